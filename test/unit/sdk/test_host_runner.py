# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Hook calls through Gatehouse's real Python runner (python-host.py): the SDK is importable without being
bundled, **kwargs hooks get every argument, narrower hooks only theirs, and a missing module is named."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HOST = os.environ["GATEHOUSE_PYTHON_HOST"]


def call(main_py, hook, args, configuration=""):
    with tempfile.TemporaryDirectory() as folder:
        entry = os.path.join(folder, "main.py")
        with open(entry, "w") as handle:
            handle.write(main_py)
        read_end, write_end = os.pipe()
        # The runner answers on fd 3, as Gatehouse starts it.
        script = 'exec "$0" -B "$1" "$2" 3>&%d' % write_end
        proc = subprocess.Popen(["/bin/sh", "-c", script, sys.executable, HOST, entry], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,))
        os.close(write_end)
        proc.communicate(json.dumps({"hook": hook, "configuration": configuration, "args": args}).encode() + b"\n", timeout=60)
        with os.fdopen(read_end) as control:
            return [json.loads(line) for line in control]


class HostRunnerTest(unittest.TestCase):
    def test_kwargs_hook_receives_everything_and_sdk_is_on_the_path(self):
        main = ("from safeguard.sessions.plugin import AAPlugin, AAResponse\n"
                "class Plugin(AAPlugin):\n"
                "    def do_authorize(self):\n"
                "        c = self.connection\n"
                "        return AAResponse.accept().with_additional_metadata([c.target_server, c.gateway_user, c.server_port])\n")
        args = {"cookie": {}, "session_cookie": {}, "session_id": "s", "gateway_user": "gw", "server_ip": "10.0.0.1",
                "server_port": 22, "target_server": "10.0.0.1", "future_argument": 1}
        ready, result = call(main, "authorize", args)
        self.assertEqual(ready["type"], "ready")
        self.assertIn("authenticate", ready["hooks"])
        value = json.loads(result["json"])
        self.assertEqual((value["verdict"], value["additional_metadata"]), ("ACCEPT", '["10.0.0.1", "gw", 22]'))

    def test_partial_signature_gets_only_its_names(self):
        main = ("class Plugin:\n"
                "    def __init__(self, configuration): pass\n"
                "    def authenticate(self, key_value_pairs, session_id):\n"
                "        return {'verdict': 'ACCEPT', 'additional_metadata': session_id + key_value_pairs['k']}\n")
        _, result = call(main, "authenticate", {"session_id": "s", "key_value_pairs": {"k": "1"}, "cookie": {}})
        self.assertEqual(json.loads(result["json"])["additional_metadata"], "s1")

    def test_sdk_version_and_missing_module_named(self):
        _, result = call("import safeguard.sessions.plugin as sdk\nclass Plugin:\n    def authenticate(self):\n        return {'verdict': 'ACCEPT', 'additional_metadata': sdk.__version__}\n", "authenticate", {})
        self.assertEqual(json.loads(result["json"])["additional_metadata"], "1.9.0")
        (failure,) = call("import no_such_module_here\nclass Plugin: pass\n", "authenticate", {})
        self.assertEqual(failure["type"], "load_error")
        self.assertIn('"no_such_module_here"', failure["message"])
