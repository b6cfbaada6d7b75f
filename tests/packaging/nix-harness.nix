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
# `system` is the rest of the NixOS configuration the module reads:
#   --arg system '{ security.allowUserNamespaces = false; }'
{
  root,
  values ? { },
  system ? { },
}:

let
  inherit (builtins)
    attrNames
    filter
    isAttrs
    map
    ;

  fake = import ./fake-nixpkgs.nix { inherit root; };
  inherit (fake) lib pkgs callPackage;

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
    config = system // {
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
