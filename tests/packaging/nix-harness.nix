# Evaluates nix/package.nix and nix/module.nix without nixpkgs, which cannot
# be fetched where the tests run: a stand-in `lib` with only the functions
# those files call, packages that are plain attribute sets, and a tiny
# fixpoint in place of the module system (option defaults, overridden by
# `values`). It checks the wiring of our own files (options → cbox.conf,
# backends → meson flags, runtime tools → wrapper); it cannot check nixpkgs
# itself, which only a real `nix flake check` does (docs/nix.md).
#
#   nix-instantiate --eval --strict --json nix-harness.nix \
#     --argstr root /path/to/source --arg values '{ network = false; }'
#
# `values` may also be a function of the stand-in pkgs:
#   --arg values 'pkgs: { extraPackages = [ pkgs.hello ]; }'
{
  root,
  values ? { },
}:

let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    filter
    isAttrs
    listToAttrs
    map
    ;

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

  stdenv = {
    mkDerivation = attrs: attrs // { type = "derivation"; };
    hostPlatform = {
      system = "x86_64-linux";
      isx86_64 = true;
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
    ripgrep = fakePackage "ripgrep";
  };

  # Option defaults, by walking the option tree the module declares.
  defaultsOf =
    tree:
    if tree ? _type && tree._type == "option" then
      tree.default or null
    else
      builtins.mapAttrs (_: defaultsOf) tree;

  recursiveUpdate =
    left: right:
    left
    // builtins.mapAttrs (
      name: value:
      if isAttrs value && left ? ${name} && isAttrs left.${name} && !(value ? type) then
        recursiveUpdate left.${name} value
      else
        value
    ) right;

  userValues = if builtins.isFunction values then values pkgs else values;
  module = import (root + "/nix/module.nix");
  evaluated = module {
    inherit lib pkgs;
    config = {
      programs.cbox = recursiveUpdate (recursiveUpdate (defaultsOf evaluated.options.programs.cbox) userValues) {
        finalPackage = evaluated.config.programs.cbox.finalPackage;
      };
    };
  };
  config = evaluated.config;
in
{
  plugins = attrNames (import (root + "/nix/plugins.nix"));
  package = {
    inherit (callPackage (root + "/nix/package.nix") { }) version mesonFlags;
  };
  enabled = config != { };
  failedAssertions = map (a: a.message) (filter (a: !a.assertion) (config.assertions or [ ]));
  conf = config.environment.etc."cbox/cbox.conf".text or null;
  systemPackages = map (p: p.pname or p.name) (config.environment.systemPackages or [ ]);
  final = {
    mesonFlags = config.programs.cbox.finalPackage.mesonFlags or [ ];
    postInstall = config.programs.cbox.finalPackage.postInstall or "";
    buildInputs = map (p: p.name) (config.programs.cbox.finalPackage.buildInputs or [ ]);
  };
}
