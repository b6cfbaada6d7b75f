# Evaluates flake.nix's outputs with a stand-in nixpkgs input
# (fake-nixpkgs.nix), so that a wrong attribute path between the flake's
# outputs (self.packages.${system}.cbox, the overlay, the module's default
# package) shows up without fetching nixpkgs. The checks are listed, not
# built: they need the real nixpkgs (docs/nix.md).
#
#   nix-instantiate --eval --strict --json flake-harness.nix --argstr root /path/to/source
{ root }:

let
  inherit (builtins) attrNames mapAttrs;

  fakeFor = system: import ./fake-nixpkgs.nix { inherit root system; };
  fake = fakeFor "x86_64-linux";
  nixpkgs = {
    lib = fake.lib;
    legacyPackages = {
      x86_64-linux = (fakeFor "x86_64-linux").pkgs;
      aarch64-linux = (fakeFor "aarch64-linux").pkgs;
    };
  };

  flake = import (root + "/flake.nix");
  # As Nix gives it: the outputs themselves, plus the source as outPath.
  self = flake.outputs { inherit self nixpkgs; } // { outPath = root; };
  module = self.nixosModules.default {
    lib = fake.lib;
    pkgs = fake.pkgs;
  };
in
{
  inherit (flake) description;
  nixpkgsUrl = flake.inputs.nixpkgs.url;
  outputs = attrNames (flake.outputs { inherit self nixpkgs; });
  packages = mapAttrs (system: packages: {
    names = attrNames packages;
    version = packages.default.version;
    mesonFlags = packages.cbox.mesonFlags;
  }) self.packages;
  overlayVersion = (self.overlays.default fake.pkgs fake.pkgs).cbox.version;
  checks = mapAttrs (system: checks: attrNames checks) self.checks;
  # Forced here: those that need no NixOS evaluation.
  checkPackageVersion = self.checks.x86_64-linux.package.version;
  bwrapOnly = {
    inherit (self.checks.x86_64-linux.bwrap-only) mesonFlags doInstallCheck installCheckPhase;
  };
  vmTestName = self.checks.x86_64-linux.vm.name;
  devShells = mapAttrs (system: shells: attrNames shells) self.devShells;
  module = {
    imports = map toString module.imports;
    packageVersion = module.programs.cbox.package.version;
  };
}
