# The cbox package: the core, the plugins named in `plugins`, the man page.
#
#   pkgs.callPackage ./nix/package.nix { }
#   cbox.override { plugins = [ "bwrap" "x11" "wayland" ]; }
#   cbox.override { extraPlugins = [ cbox-gpg ]; }   # third-party plugins
#
# Every plugin of nix/plugins.nix is built with -DNAME=enabled (or disabled
# when it is not in `plugins`), so a missing library fails this build
# instead of leaving a plugin out without a word. The programs the plugins
# start at run time (bwrap, systemd-nspawn, setpriv, QEMU, virtiofsd,
# xdg-dbus-proxy) are found on PATH by the plugins; the wrapper appends
# this package's own versions to PATH, so a tool the system provides (the
# running systemd's nspawn, for one) wins and ours is the fallback.
#
# cbox-exec, the program that starts the command inside the sandbox, is
# linked statically (meson refuses to build it otherwise), so glibc.static
# is always an input: on a host that is not NixOS the sandbox sees the
# host's /usr, not the store, and a dynamic cbox-exec would name a loader
# under /nix/store that is not there. The static program needs no store
# path at run time, so the same package works on NixOS and elsewhere.
#
# Third-party plugins (extraPlugins) are packages that install
# libcbox-NAME.so into $out/lib/cbox/plugins-1; the wrapper appends their
# folders to CBOX_PLUGIN_PATH (a folder the user names there still comes
# first; cbox ignores the variable when it runs setuid).
#
# The check phase runs the test suite without the `integration` suite:
# those tests start sandboxes (user namespaces, systemd-nspawn, QEMU),
# which the Nix build sandbox does not allow. Tests that need a program
# that is missing here skip themselves (CI is not set in a Nix build).
{
  lib,
  stdenv,
  src ? lib.cleanSourceWith {
    src = ../.;
    # A local build folder, editor droppings and Nix results are not source.
    filter =
      path: type:
      let
        name = baseNameOf path;
      in
      !(type == "directory" && (name == "build" || name == ".git"))
      && !(lib.hasPrefix "result" name)
      && !(lib.hasSuffix "~" name);
  },
  # The qemu backend runs qemu-system-x86_64 only, so elsewhere it is left
  # out unless asked for.
  plugins ? builtins.filter (name: name != "qemu" || stdenv.hostPlatform.isx86_64) (
    builtins.attrNames (import ./plugins.nix)
  ),
  # Packages with third-party plugins in lib/cbox/plugins-1.
  extraPlugins ? [ ],
  meson,
  ninja,
  pkg-config,
  makeWrapper,
  wayland-scanner,
  glib,
  json-glib,
  libseccomp,
  pipewire,
  libdrm,
  wayland,
  wayland-protocols,
  xz,
  zstd,
  glibc,
  groff,
  bubblewrap,
  systemd,
  util-linux,
  qemu_kvm,
  virtiofsd,
  xdg-dbus-proxy,
}:

let
  known = import ./plugins.nix;
  unknown = builtins.filter (name: !(known ? ${name})) plugins;
  has = name: builtins.elem name plugins;

  # The nixpkgs attribute names of nix/plugins.nix, as packages.
  tools = {
    inherit
      bubblewrap
      systemd
      util-linux
      qemu_kvm
      virtiofsd
      xdg-dbus-proxy
      ;
  };
  runtimeTools = builtins.concatMap (name: map (tool: tools.${tool}) known.${name}.runtime) plugins;
  extraPluginPath = lib.concatStringsSep ":" (map (p: "${p}/lib/cbox/plugins-1") extraPlugins);

  # meson.build is the one place the version is written (project()'s
  # version, not its meson_version).
  version = builtins.head (
    builtins.match ".*project\\([^)]*[[:space:],]version: '([^']+)'.*" (
      builtins.readFile "${src}/meson.build"
    )
  );
in

assert lib.assertMsg (unknown == [ ])
  "cbox: unknown plugins ${toString unknown} (known: ${toString (builtins.attrNames known)})";

stdenv.mkDerivation {
  pname = "cbox";
  inherit version src;

  strictDeps = true;

  nativeBuildInputs =
    [
      meson
      ninja
      pkg-config
      makeWrapper
    ]
    ++ lib.optionals (has "wayland") [ wayland-scanner ];

  buildInputs =
    [
      glib
      json-glib
      # cbox-exec (and the qemu backend's init) link statically.
      glibc.static
    ]
    # cbox-exec embeds the seccomp filter every backend uses.
    ++ [ libseccomp ]
    ++ lib.optionals (has "pipewire") [ pipewire ]
    ++ lib.optionals (has "dri") [ libdrm ]
    ++ lib.optionals (has "wayland") [
      wayland
      wayland-protocols
    ]
    # Compressed kernel modules are unpacked with liblzma and libzstd.
    ++ lib.optionals (has "qemu") [
      xz
      zstd
    ];

  mesonFlags =
    [
      # The system configuration is /etc/cbox/cbox.conf (the NixOS module
      # writes it), not a folder inside the store.
      "--sysconfdir=/etc"
      (lib.mesonBool "werror" false)
    ]
    ++ map (name: lib.mesonEnable name (has name)) (builtins.attrNames known);

  doCheck = true;
  nativeCheckInputs = [ groff ];
  checkPhase = ''
    runHook preCheck
    meson test --no-rebuild --print-errorlogs --no-suite integration
    runHook postCheck
  '';

  postInstall = lib.optionalString (runtimeTools != [ ] || extraPlugins != [ ]) (
    "wrapProgram $out/bin/cbox"
    + lib.optionalString (runtimeTools != [ ]) " --suffix PATH : ${lib.makeBinPath runtimeTools}"
    + lib.optionalString (extraPlugins != [ ]) " --suffix CBOX_PLUGIN_PATH : ${extraPluginPath}"
    + "\n"
  );

  passthru = {
    inherit plugins extraPlugins;
  };

  meta = {
    description = "Run a command in a sandbox with exactly the host resources asked for";
    longDescription = ''
      cbox runs a command (an AI coding agent, a shell, a browser, a build)
      in a sandbox: bubblewrap, systemd-nspawn or a QEMU virtual machine,
      with plugins that forward one host resource each (display, GPU, audio,
      D-Bus, SSH agent, git, Nix, locale, DNS and TLS roots).
    '';
    license = lib.licenses.lgpl21Plus;
    platforms = lib.platforms.linux;
    mainProgram = "cbox";
  };
}
