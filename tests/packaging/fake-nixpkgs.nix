# A stand-in for nixpkgs, for evaluating our Nix files where nixpkgs cannot
# be fetched (tests/packaging): a `lib` with only the functions flake.nix
# and nix/ call, packages that are plain attribute sets with a fake store
# path, and callPackage with .override. Used by nix-harness.nix and
# flake-harness.nix; it says nothing about nixpkgs itself.
{
  root,
  system ? "x86_64-linux",
}:

let
  inherit (builtins) listToAttrs map;

  fakePackage = name: {
    inherit name;
    type = "derivation";
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };

  lib = rec {
    assertMsg = ok: message: if ok then true else throw message;
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    optionalAttrs = cond: set: if cond then set else { };
    concatStringsSep = builtins.concatStringsSep;
    makeBinPath = packages: concatStringsSep ":" (map (p: "${p.outPath}/bin") packages);
    mesonBool = name: value: "-D${name}=${if value then "true" else "false"}";
    mesonEnable = name: value: "-D${name}=${if value then "enabled" else "disabled"}";
    genAttrs =
      names: f:
      listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    hasSuffix =
      suffix: s:
      let
        n = builtins.stringLength s;
        m = builtins.stringLength suffix;
      in
      n >= m && builtins.substring (n - m) m s == suffix;
    cleanSourceWith = args: args.src;
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = description: mkOption {
      default = false;
      inherit description;
    };
    mkIf = cond: content: if cond then content else { };
    mkDefault = x: x;
    licenses.lgpl21Plus = "LGPL-2.1-or-later";
    platforms.linux = [ "x86_64-linux" ];
    types = {
      package = "package";
      bool = "bool";
      int = "int";
      str = "str";
      enum = values: { enum = values; };
      listOf = t: { listOf = t; };
      attrsOf = t: { attrsOf = t; };
      nullOr = t: { nullOr = t; };
      oneOf = ts: { oneOf = ts; };
    };
  };

  stdenv = rec {
    mkDerivation =
      attrs:
      let
        drv = attrs // {
          type = "derivation";
          overrideAttrs =
            f: mkDerivation (attrs // (if builtins.isFunction f then f attrs else f));
        };
      in
      drv;
    hostPlatform = {
      inherit system;
      isx86_64 = system == "x86_64-linux";
    };
  };

  packageArgs =
    listToAttrs (
      map
        (name: {
          inherit name;
          value = fakePackage name;
        })
        [
          "meson"
          "ninja"
          "pkg-config"
          "makeWrapper"
          "wayland-scanner"
          "glib"
          "json-glib"
          "libseccomp"
          "pipewire"
          "libdrm"
          "wayland"
          "wayland-protocols"
          "xz"
          "zstd"
          "groff"
          "bubblewrap"
          "systemd"
          "util-linux"
          "qemu_kvm"
          "virtiofsd"
          "xdg-dbus-proxy"
        ]
    )
    // {
      inherit lib stdenv;
      glibc = fakePackage "glibc" // {
        static = fakePackage "glibc-static";
      };
      src = root;
    };

  # callPackage with .override, as nixpkgs gives it (only named arguments).
  callPackage =
    file: args:
    let
      f = import file;
      wanted = builtins.functionArgs f;
      given = builtins.intersectAttrs wanted (packageArgs // args);
    in
    f given
    // {
      override = more: callPackage file (args // more);
    };

  pkgs = packageArgs // {
    inherit callPackage;
    hello = fakePackage "hello";
    clang-tools = fakePackage "clang-tools";
    testers.runNixOSTest = test: test // { type = "derivation"; };
    mkShell = attrs: attrs // { type = "derivation"; name = "shell"; };
    ripgrep = fakePackage "ripgrep";
  };

in
{
  inherit
    lib
    stdenv
    pkgs
    callPackage
    fakePackage
    ;
}
