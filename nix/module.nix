# NixOS module: programs.cbox.
#
#   programs.cbox = {
#     enable = true;
#     network = false;                      # [cbox] network=off by default
#     backends.qemu.enable = true;          # build and install the qemu backend
#     extraPackages = [ pkgs.ripgrep ];     # on PATH inside the sandbox
#     extraPlugins = [ cbox-gpg ];          # third-party plugin packages
#     settings.x11.trusted = false;         # any other key of /etc/cbox/cbox.conf
#   };
#
# It installs cbox built with the chosen backends (and every forwarder) and
# writes /etc/cbox/cbox.conf from the options. Written without `with lib;`
# so that `nix-instantiate --parse` (tests/packaging) reports any name that
# is not defined.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.programs.cbox;
  types = lib.types;
  renderConfig = import ./config.nix;
  knownPlugins = import ./plugins.nix;

  backendNames = builtins.filter (name: knownPlugins.${name}.kind == "backend") (
    builtins.attrNames knownPlugins
  );
  forwarderNames = builtins.filter (name: knownPlugins.${name}.kind == "forwarder") (
    builtins.attrNames knownPlugins
  );
  enabledBackends = builtins.filter (name: cfg.backends.${name}.enable) backendNames;

  backendDescriptions = {
    bwrap = "bubblewrap (unprivileged user namespaces)";
    nspawn = "systemd-nspawn (cbox run as root, through sudo)";
    qemu = "QEMU virtual machine booting the host kernel (users need /dev/kvm: the kvm group)";
  };

  # On NixOS the base plan mounts /nix/store and /run/current-system/sw
  # read-only, so store paths work inside. PATH replaces the host's PATH
  # (the core starts from the host's PATH; `env` NAME=VALUE sets it), with
  # the system profile kept behind the extra packages.
  sandboxPath = lib.makeBinPath cfg.extraPackages + ":/run/current-system/sw/bin";

  userCbox = cfg.settings.cbox or { };
  sysctl = config.boot.kernel.sysctl or { };
  # How a sysctl that turns something off can be written.
  off = [
    0
    false
    "0"
  ];

  settings = cfg.settings // {
    cbox =
      userCbox
      // {
        backend = cfg.backend;
        network = if cfg.network then "on" else "off";
      }
      // lib.optionalAttrs (cfg.extraPackages != [ ]) {
        env = [ "PATH=${sandboxPath}" ] ++ (userCbox.env or [ ]);
      };
  };
in
{
  options.programs.cbox = {
    enable = lib.mkEnableOption "cbox, a sandbox launcher (bubblewrap, systemd-nspawn, QEMU) with forwarders for host resources";

    package = lib.mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = ''
        The cbox package. The module overrides its `plugins` with the
        enabled backends and every forwarder; the installed package is
        {option}`programs.cbox.finalPackage`.
      '';
    };

    finalPackage = lib.mkOption {
      type = types.package;
      readOnly = true;
      description = "The cbox package as installed: {option}`programs.cbox.package` with the chosen backends.";
    };

    backends = lib.genAttrs backendNames (name: {
      enable = lib.mkOption {
        type = types.bool;
        default = name == "bwrap";
        description = "Whether to build and install the ${name} backend: ${backendDescriptions.${name} or name}.";
      };
    });

    backend = lib.mkOption {
      type = types.enum backendNames;
      default = "bwrap";
      description = "The default backend (`[cbox] backend`); `cbox --backend=NAME` picks another one.";
    };

    network = lib.mkOption {
      type = types.bool;
      default = true;
      description = "Whether sandboxes have network access by default (`[cbox] network`); `cbox --network=on|off` overrides it.";
    };

    extraPackages = lib.mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.ripgrep pkgs.nodejs ]";
      description = ''
        Packages whose `bin` folders are put on PATH inside the sandbox, before
        the system profile (`/run/current-system/sw/bin`), without installing
        them on the host. Written as `env=PATH=...` in `[cbox]`, which
        replaces the PATH the sandbox would inherit from the host.
      '';
    };

    extraPlugins = lib.mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ cbox-gpg ]";
      description = ''
        Packages with third-party cbox plugins, each installing
        `libcbox-NAME.so` into {file}`lib/cbox/plugins-1` (a meson plugin
        built against this cbox does so when built with
        `PKG_CONFIG_CBOX_PLUGIN_PLUGINSDIR=$out/lib/cbox/plugins-1`, see
        docs/nix.md). The installed cbox searches their folders after
        `CBOX_PLUGIN_PATH` and before its own plugins, so a plugin here
        with the name of a built-in one replaces it.
      '';
    };

    settings = lib.mkOption {
      type = types.attrsOf (
        types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.bool
              types.int
              types.str
              (types.listOf (
                types.oneOf [
                  types.bool
                  types.int
                  types.str
                ]
              ))
            ]
          )
        )
      );
      default = { };
      example = lib.literalExpression ''
        {
          cbox.forward-optional = [ "display" ];
          x11.trusted = false;
          ssh.keys = false;
        }
      '';
      description = ''
        Any other key of {file}`/etc/cbox/cbox.conf`, by group (`[cbox]` and
        the plugins' groups, documented in docs/config.md and each plugin's
        README.md). Lists are written `;`-separated. `cbox.backend` and
        `cbox.network` come from their own options.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = enabledBackends != [ ];
        message = "programs.cbox: enable at least one of programs.cbox.backends.{${lib.concatStringsSep "," backendNames}}.";
      }
      {
        assertion = cfg.backends.${cfg.backend}.enable;
        message = "programs.cbox.backend is \"${cfg.backend}\", but programs.cbox.backends.${cfg.backend}.enable is false.";
      }
      {
        # bwrap makes its namespaces as the user: with unprivileged user
        # namespaces off, every run would fail at its first step.
        assertion =
          !cfg.backends.bwrap.enable
          || (
            (config.security.allowUserNamespaces or true)
            && !(builtins.elem (sysctl."user.max_user_namespaces" or 1) off)
            && !(builtins.elem (sysctl."kernel.unprivileged_userns_clone" or 1) off)
          );
        message = "programs.cbox: the bwrap backend needs unprivileged user namespaces, which this configuration turns off (security.allowUserNamespaces = false, or the sysctl user.max_user_namespaces = 0 or kernel.unprivileged_userns_clone = 0; a hardened kernel also needs security.unprivilegedUsernsClone = true). Turn them on, or set programs.cbox.backends.bwrap.enable = false and pick another programs.cbox.backend.";
      }
      {
        assertion = !(userCbox ? backend) && !(userCbox ? network);
        message = "programs.cbox.settings.cbox: set backend and network with programs.cbox.backend and programs.cbox.network.";
      }
    ];

    programs.cbox.finalPackage = cfg.package.override {
      plugins = enabledBackends ++ forwarderNames;
      inherit (cfg) extraPlugins;
    };

    environment.systemPackages = [ cfg.finalPackage ];

    environment.etc."cbox/cbox.conf".text = renderConfig settings;
  };
}
