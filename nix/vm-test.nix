# NixOS VM test (flake check `vm`, needs KVM on the builder): the module
# installs cbox and writes /etc/cbox/cbox.conf; a normal user runs commands
# with the bwrap backend. It checks what only a real NixOS can show: the
# store-based /usr layout, the extra packages on PATH inside, the network
# default of the module, the private home and the exit statuses.
{ self }:
{
  name = "cbox";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      programs.cbox = {
        enable = true;
        network = false;
        extraPackages = [ pkgs.hello ];
      };
      users.users.alice.isNormalUser = true;
    };

  testScript = ''
    def as_alice(command):
        return "su - alice -c " + repr("mkdir -p ~/project && cd ~/project && " + command)

    machine.wait_for_unit("multi-user.target")

    with subtest("the configuration the module wrote is accepted"):
        machine.succeed("grep -qx 'network=off' /etc/cbox/cbox.conf")
        machine.succeed(as_alice("cbox doctor"))

    with subtest("a command runs, and its exit status is cbox's"):
        machine.succeed(as_alice("cbox run -- true"))
        machine.succeed(as_alice("cbox run -- sh -c 'exit 3'; test $? -eq 3"))
        machine.succeed(as_alice("cbox run -- no-such-command; test $? -eq 127"))

    with subtest("extraPackages are on PATH inside, not on the host"):
        machine.fail(as_alice("command -v hello"))
        out = machine.succeed(as_alice("cbox run -- hello"))
        assert "Hello, world" in out, out

    with subtest("network off by the module's default, on by the option"):
        out = machine.succeed(as_alice("cbox run -- cat /proc/net/dev"))
        assert "eth" not in out, out
        out = machine.succeed(as_alice("cbox --network=on run -- cat /proc/net/dev"))
        assert "eth" in out, out

    with subtest("the home stays outside, the project is inside"):
        machine.succeed(as_alice("echo secret > ~/secret && echo mine > ~/project/file"))
        machine.fail(as_alice("cbox run -- cat ~/secret"))
        out = machine.succeed(as_alice("cbox run -- cat file"))
        assert out.strip() == "mine", out
  '';
}
