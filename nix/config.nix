# cbox.conf text from structured settings, with builtins only (so a test
# can evaluate it without nixpkgs):
#
#   import ./config.nix { cbox = { network = false; env = [ "EDITOR=vim" ]; }; x11.trusted = false; }
#
# Groups are written [cbox] first, then the others by name; keys by name.
# Values: a string, a boolean (true/false), an integer, or a list of those
# (joined with ';', where a ';' inside an item is written '\;'); null leaves
# the key out. Strings are escaped as GKeyFile reads them back: '\\',
# '\n', '\t', '\r', and '\s' for a leading space.
settings:

let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isAttrs
    isBool
    isInt
    isList
    isString
    match
    replaceStrings
    substring
    stringLength
    ;

  fail = what: throw "cbox.conf: ${what}";

  # A GKeyFile value: backslash escapes, and a leading space kept as \s
  # (GKeyFile strips unescaped leading spaces).
  escapeString =
    s:
    let
      escaped = replaceStrings [ "\\" "\n" "\t" "\r" ] [ "\\\\" "\\n" "\\t" "\\r" ] s;
    in
    if substring 0 1 escaped == " " then "\\s" + substring 1 (stringLength escaped) escaped else escaped;

  scalar =
    where: v:
    if isBool v then
      (if v then "true" else "false")
    else if isInt v then
      toString v
    else if isString v then
      escapeString v
    else
      fail "${where}: a value must be a string, boolean, integer or list of those";

  # GKeyFile splits lists on ';' before it unescapes, so a ';' in an item
  # needs its own escape.
  value =
    where: v:
    if isList v then
      concatStringsSep ";" (map (item: replaceStrings [ ";" ] [ "\\;" ] (scalar where item)) v)
    else
      scalar where v;

  checkName =
    what: name:
    if match "[A-Za-z0-9_.-]+" name == null then
      fail "${what} '${name}' may hold only letters, digits, '_', '.' and '-'"
    else
      name;

  group =
    name: keys:
    if !(isAttrs keys) then
      fail "[${name}] must be an attribute set of keys"
    else
      let
        present = filter (key: keys.${key} != null) (attrNames keys);
        line =
          key: "${checkName "key in [${name}]" key}=${value "[${name}] ${key}" keys.${key}}\n";
      in
      "[${checkName "group" name}]\n" + concatStringsSep "" (map line present);

  order = (if settings ? cbox then [ "cbox" ] else [ ]) ++ filter (n: n != "cbox") (attrNames settings);
in
"# Written by the cbox NixOS module (programs.cbox); edit the NixOS\n"
+ "# configuration instead of this file.\n"
+ concatStringsSep "\n" (map (name: group name settings.${name}) order)
