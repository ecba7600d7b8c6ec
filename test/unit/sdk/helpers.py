# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Shared bits of the SDK's Python unit tests (run by test/unit/sdk-python.test.ts)."""
import json
import os
import shutil
import tempfile
import unittest


class SdkTestCase(unittest.TestCase):
    """Gives each test its own plugin state directory and host context, restored afterwards."""

    host = {}

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="gh-sdk-test-")
        self._saved = {k: os.environ.get(k) for k in ("SCB_PLUGIN_STATE_DIRECTORY", "GATEHOUSE_SDK_HOST")}
        os.environ["SCB_PLUGIN_STATE_DIRECTORY"] = self.state
        os.environ["GATEHOUSE_SDK_HOST"] = json.dumps(self.host)

    def tearDown(self):
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.state, ignore_errors=True)


def hook_args(**overrides):
    """The full argument set Gatehouse passes to authenticate, with overrides."""
    args = dict(cookie={}, session_cookie={}, session_id="sid-1", protocol="ssh", connection_name="pol",
                client_ip="10.0.0.5", client_port=50000, client_hostname=None, gateway_user=None,
                gateway_domain=None, server_username="alice", server_domain=None, key_value_pairs={},
                target_server=None, target_port=None, target_username="alice")
    args.update(overrides)
    return args
