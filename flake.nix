# cbox as a Nix flake: the package, an overlay, a NixOS module
# (programs.cbox) and checks. See docs/nix.md, which also says what of this
# was verified where (no nixpkgs could be fetched where it was written).
{
  description = "cbox: run a command in a sandbox with exactly the host resources asked for";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The flake's own tree (tracked files only) is the source.
      cboxFor = pkgs: pkgs.callPackage ./nix/package.nix { src = self; };
    in
    {
      overlays.default = final: prev: { cbox = cboxFor final; };

      packages = forAllSystems (pkgs: {
        cbox = cboxFor pkgs;
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.cbox;
      });

      nixosModules.cbox =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          programs.cbox.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.cbox;
        };
      nixosModules.default = self.nixosModules.cbox;

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.cbox ];
          packages = [
            pkgs.clang-tools
            pkgs.groff
            pkgs.bubblewrap
          ];
        };
      });

      checks = forAllSystems (
        pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          cbox = self.packages.${system}.cbox;

          # The module evaluated in a minimal NixOS system, with options that
          # exercise every part of the generated /etc/cbox/cbox.conf.
          evaluated = lib.nixosSystem {
            inherit system;
            modules = [
              self.nixosModules.default
              {
                boot.isContainer = true;
                system.stateVersion = lib.trivial.release;
                programs.cbox = {
                  enable = true;
                  network = false;
                  backends.qemu.enable = true;
                  extraPackages = [ pkgs.hello ];
                  settings = {
                    cbox.forward-optional = [ "display" ];
                    ssh.keys = false;
                  };
                };
              }
            ];
          };
          moduleConf = pkgs.writeText "cbox.conf" evaluated.config.environment.etc."cbox/cbox.conf".text;
        in
        {
          # The whole build, and `meson test` without the integration suite
          # in its check phase (see nix/package.nix for why).
          package = cbox;

          # The feature flags: backends left out really are left out.
          bwrap-only = (cbox.override { plugins = [ "bwrap" "hostconf" "locale" ]; }).overrideAttrs {
            doInstallCheck = true;
            installCheckPhase = ''
              runHook preInstallCheck
              test -e $out/lib/cbox/plugins-1/libcbox-bwrap.so
              test ! -e $out/lib/cbox/plugins-1/libcbox-qemu.so
              test ! -e $out/lib/cbox/plugins-1/libcbox-nspawn.so
              runHook postInstallCheck
            '';
          };

          # The file the module writes is one the installed cbox accepts
          # (`cbox doctor` rejects an unknown [cbox] key with exit 125), and
          # says what the options asked for.
          module-config =
            pkgs.runCommand "cbox-module-config"
              {
                nativeBuildInputs = [ evaluated.config.programs.cbox.finalPackage ];
              }
              ''
                mkdir -p etc home
                cp ${moduleConf} etc/cbox.conf
                cat etc/cbox.conf
                grep -qx 'network=off' etc/cbox.conf
                grep -q '^env=PATH=${pkgs.hello}/bin:/run/current-system/sw/bin$' etc/cbox.conf
                grep -qx 'keys=false' etc/cbox.conf
                HOME=$PWD/home CBOX_SYSCONF_DIR=$PWD/etc cbox doctor
                test -e ${evaluated.config.programs.cbox.finalPackage}/lib/cbox/plugins-1/libcbox-qemu.so
                touch $out
              '';

          # A NixOS VM running cbox for real (needs KVM on the builder).
          vm = pkgs.testers.runNixOSTest (import ./nix/vm-test.nix { inherit self; });
        }
      );
    };
}
