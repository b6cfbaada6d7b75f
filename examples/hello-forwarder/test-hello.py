#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The hello forwarder end to end, without a sandbox tool: cbox plans a run
with this build's plugin and cbox's `test` backend (testpluginsdir of
cbox-plugin.pc), which writes the realized plan as JSON instead of running
anything. The greeting must be in the environment and in /etc/cbox-hello,
both with `hello` as their origin; an empty greeting makes the forwarder
unavailable, so a run that asks for it fails with cbox's status 125.

    test-hello.py CBOX PLUGIN_BUILD_DIR TEST_PLUGINS_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

cbox, plugin_dir, test_plugins_dir = sys.argv[1:4]


def run_cbox(scratch, config_text):
    config_home = os.path.join(scratch, "config")
    os.makedirs(os.path.join(config_home, "cbox"), exist_ok=True)
    with open(os.path.join(config_home, "cbox", "cbox.conf"), "w") as f:
        f.write(config_text)
    output = os.path.join(scratch, "plan.json")
    # A home and a project folder of its own (cbox refuses the home itself
    # as a project).
    home = os.path.join(scratch, "home")
    project = os.path.join(scratch, "project")
    os.makedirs(home, exist_ok=True)
    os.makedirs(project, exist_ok=True)
    env = dict(os.environ)
    env.update(
        CBOX_PLUGIN_PATH=plugin_dir + ":" + test_plugins_dir,
        CBOX_TEST_OUTPUT=output,
        XDG_CONFIG_HOME=config_home,
        HOME=home,
    )
    proc = subprocess.run(
        [cbox, "--backend=test", "--forward=hello", "run", "--", "true"],
        env=env, cwd=project, capture_output=True, text=True)
    plan = None
    if os.path.exists(output):
        with open(output) as f:
            plan = json.load(f)
        os.unlink(output)
    return proc, plan


def check(condition, what):
    if not condition:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)
    print("ok: " + what)


with tempfile.TemporaryDirectory() as scratch:
    proc, plan = run_cbox(scratch, "[hello]\ngreeting=Hi from the test\n")
    check(proc.returncode == 0, "cbox run with the test backend exits 0 (stderr: %s)" % proc.stderr)
    check(plan is not None, "the test backend wrote the plan")
    env = {e["name"]: e for e in plan["environment"]}
    check("CBOX_HELLO" in env, "CBOX_HELLO is in the sandbox's environment")
    check(env["CBOX_HELLO"]["value"] == "Hi from the test", "CBOX_HELLO is the configured greeting")
    check(env["CBOX_HELLO"]["origin"] == "hello", "CBOX_HELLO was added by hello")
    files = [m for m in plan["mounts"] if m["dest"] == "/etc/cbox-hello"]
    check(len(files) == 1 and files[0]["kind"] == "data", "/etc/cbox-hello is a generated file")
    check(files[0]["origin"] == "hello", "/etc/cbox-hello was added by hello")
    check(files[0].get("content", "").startswith("Hi from the test"),
          "/etc/cbox-hello holds the greeting")

    proc, plan = run_cbox(scratch, "[hello]\ngreeting=\n")
    check(proc.returncode == 125, "an empty greeting fails the run with status 125 (got %d)" % proc.returncode)
    check("greeting" in proc.stderr, "the message names the greeting (stderr: %s)" % proc.stderr)
    check(plan is None, "nothing was run")
