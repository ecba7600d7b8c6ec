# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
from helpers import SdkTestCase
from safeguard.sessions.plugin import CredentialStorePlugin
from safeguard.sessions.plugin.credentialstore_plugin import PRIVATE

ARGS = dict(session_id="s", protocol="ssh", client_ip="10.0.0.5", gateway_username="gw", gateway_password="gp",
            gateway_groups=[], server_username="root", server_ip="10.1.1.1", server_hostname="db.corp.example",
            server_port=22, server_domain=None)


class Store(CredentialStorePlugin):
    def __init__(self, configuration):
        super().__init__(configuration, configuration_section="vault")
        self.tried = []
        self.checked_in = []

    def do_get_password_list(self):
        self.tried.append((self.account, self.asset))
        if self.asset == "10.1.1.1":
            return {"passwords": ["pw-%s" % self.authentication_username]}
        return None

    def do_check_in_credential(self):
        self.checked_in.append((self.account, self.asset))


class CredentialStorePluginTest(SdkTestCase):
    def test_candidates_order_cookie_and_check_in_at_session_end(self):
        s = Store("[account]\nprefix = a_\n[assets]\ndomain_suffix = x\n")
        r = s.get_password_list(cookie={}, session_cookie={}, **ARGS)
        self.assertEqual(r["passwords"], ["pw-gw"])
        self.assertEqual(s.tried, [("a_root", "db.corp.example.x"), ("a_root", "10.1.1.1")])
        self.assertEqual((r["cookie"]["account"], r["cookie"]["asset"]), ("a_root", "10.1.1.1"))
        self.assertEqual(r["cookie"][PRIVATE], {"check_in_trigger": "session-ended"})
        done = Store("")
        done.authentication_completed(cookie=r["cookie"], session_cookie={}, session_id="s")
        self.assertEqual(done.checked_in, [])
        end = Store("")
        end.session_ended(cookie=r["cookie"], session_cookie={}, session_id="s")
        self.assertEqual(end.checked_in, [("a_root", "10.1.1.1")])

    def test_authentication_completed_trigger_checks_in_once(self):
        cfg = "[check-in-trigger]\ndefault = session-ended\nssh = authentication-completed\n"
        r = Store(cfg).get_password_list(cookie={}, session_cookie={}, **ARGS)
        done = Store(cfg)
        r2 = done.authentication_completed(cookie=r["cookie"], session_cookie={}, session_id="s")
        self.assertEqual(len(done.checked_in), 1)
        end = Store(cfg)
        end.session_ended(cookie=r2["cookie"], session_cookie={}, session_id="s")
        self.assertEqual(end.checked_in, [])

    def test_nothing_found_and_explicit_credentials(self):
        r = Store("[vault]\nuse_credential = explicit\nusername = svc\npassword = pw\n").get_password_list(
            cookie={}, session_cookie={}, **dict(ARGS, server_ip="10.9.9.9"))
        self.assertEqual((r["passwords"], r["cookie"]["account"], r["cookie"]["asset"]), ([], None, None))
        s = Store("[vault]\nuse_credential = explicit\nusername = svc\npassword = pw\n")
        self.assertEqual(s.get_password_list(cookie={}, session_cookie={}, **ARGS)["passwords"], ["pw-svc"])

    def test_key_type_detection(self):
        self.assertEqual(CredentialStorePlugin.determine_key_type("-----BEGIN RSA PRIVATE KEY-----\nx\n"), "ssh-rsa")
        self.assertFalse(CredentialStorePlugin.determine_key_type("garbage"))
