# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
import json
import unittest

from safeguard.sessions.plugin import AAResponse, DenyReasons
from safeguard.sessions.plugin.connection_info import ConnectionInfo


class ResponseTest(unittest.TestCase):
    def test_shapes(self):
        self.assertEqual(AAResponse.accept(), {"verdict": "ACCEPT"})
        self.assertEqual(AAResponse.need_info("Token: ", "tok"), {"verdict": "NEEDINFO", "question": ("tok", "Token: ", False)})
        self.assertEqual(AAResponse.need_info(question="Q", key="k", disable_echo=True)["question"], ("k", "Q", True))
        deny = AAResponse.deny(reason="wrong code", deny_reason=DenyReasons().authentication_failure)
        self.assertEqual(deny["verdict"], "DENY")
        self.assertIn("wrong code", deny["additional_metadata"])
        self.assertEqual(json.loads(deny["additional_metadata"]), {"reason": "wrong code"})
        self.assertEqual(deny["reason"], "Authentication failed")
        self.assertNotIn("reason", AAResponse.deny())

    def test_chaining_and_json(self):
        r = (AAResponse.accept().with_cookie({"a": 1}).with_session_cookie({"b": 2}).with_gateway_user("bob")
             .with_additional_metadata({"x": 1}).with_reason("why"))
        self.assertEqual(r["gateway_groups"], ())
        self.assertEqual(r["additional_metadata"], '{"x": 1}')
        self.assertEqual(json.loads(json.dumps(r))["gateway_groups"], [])
        self.assertEqual(r.get("verdict"), "ACCEPT")
        self.assertEqual(AAResponse.accept().with_gateway_user("u", ["g"])["gateway_groups"], ("g",))

    def test_deny_reasons_are_texts(self):
        reasons = DenyReasons()
        for text in (reasons.authentication_failure, reasons.communication_error, reasons.backend_service_error):
            self.assertTrue(isinstance(text, str) and text)


class ConnectionInfoTest(unittest.TestCase):
    def test_current_and_legacy_names(self):
        c = ConnectionInfo.from_hook_arguments(dict(
            gateway_user="gw", target_username="root", target_server="10.1.2.3", target_port=2222,
            target_domain="corp", protocol="ssh", session_id="s", unknown_future_name=1))
        self.assertEqual((c.gateway_username, c.gateway_user), ("gw", "gw"))
        self.assertEqual((c.server_username, c.target_username), ("root", "root"))
        self.assertEqual((c.server_ip, c.target_server, c.target_host, c.target_ip), ("10.1.2.3",) * 4)
        self.assertEqual((c.server_port, c.target_port, c.server_domain, c.target_domain), (2222, 2222, "corp", "corp"))
        self.assertEqual(c.key_value_pairs, {})
        self.assertEqual(c.gateway_groups, ())
        with self.assertRaises(AttributeError):
            c.protocol = "rdp"

    def test_new_names_win_and_hostname_first(self):
        c = ConnectionInfo(server_ip="10.0.0.1", server_hostname="db01", server_username="u", target_username="old")
        self.assertEqual(c.target_server, "db01")
        self.assertEqual(c.target_username, "u")
        self.assertEqual(ConnectionInfo(target_host="db02.example").server_hostname, "db02.example")


class VersionTest(unittest.TestCase):
    def test_reports_sdk_1_9_and_satisfies_every_1_x_pin(self):
        from importlib import metadata

        import safeguard.sessions.plugin as sdk

        version = metadata.version("oneidentity-safeguard-sessions-plugin-sdk")
        self.assertEqual((sdk.__version__, version), ("1.9.0", "1.9.0"))
        parts = tuple(int(p) for p in version.split("."))
        for minor in range(1, 10):
            # ~=1.N means >= 1.N and < 2.0
            self.assertTrue((1, minor) <= parts[:2] and parts[0] < 2, "~=1.%d" % minor)
