# The plugins of this source tree, one per meson feature option in
# meson_options.txt, with the nixpkgs attributes of the programs each one
# starts at run time (found on PATH; see package.nix). package.nix turns
# every entry into -DNAME=enabled or -DNAME=disabled, so a missing library
# fails the Nix build instead of silently leaving a plugin out.
# tests/packaging/test-nix-files.c checks that this list and
# meson_options.txt name the same plugins.
{
  bwrap = {
    kind = "backend";
    runtime = [ "bubblewrap" ];
  };
  nspawn = {
    kind = "backend";
    # systemd-nspawn; setpriv (util-linux) drops to the invoking user.
    runtime = [ "systemd" "util-linux" ];
  };
  qemu = {
    kind = "backend";
    runtime = [ "qemu_kvm" "virtiofsd" ];
  };
  x11 = {
    kind = "forwarder";
    runtime = [ ];
  };
  wayland = {
    kind = "forwarder";
    runtime = [ ];
  };
  dbus = {
    kind = "forwarder";
    runtime = [ "xdg-dbus-proxy" ];
  };
  dri = {
    kind = "forwarder";
    runtime = [ ];
  };
  pipewire = {
    kind = "forwarder";
    runtime = [ ];
  };
  ssh = {
    kind = "forwarder";
    runtime = [ ];
  };
  git = {
    kind = "forwarder";
    runtime = [ ];
  };
  nix = {
    kind = "forwarder";
    runtime = [ ];
  };
  locale = {
    kind = "forwarder";
    runtime = [ ];
  };
  hostconf = {
    kind = "forwarder";
    runtime = [ ];
  };
  claude = {
    kind = "forwarder";
    runtime = [ ];
  };
}
