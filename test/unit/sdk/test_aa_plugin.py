# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
import json
import multiprocessing
import os

from helpers import SdkTestCase, hook_args
from safeguard.sessions.plugin import AAPlugin, AAResponse
from safeguard.sessions.plugin.mfa_client import MFAAuthenticationFailure, MFAClient, MFAServiceUnreachable


class Client(MFAClient):
    def otp_authenticate(self, mfa_identity, otp):
        if otp == "unreachable":
            raise MFAServiceUnreachable("down")
        if otp != "123456":
            raise MFAAuthenticationFailure("bad code for %s" % mfa_identity)
        return True

    def push_authenticate(self, mfa_identity):
        return mfa_identity.startswith("push")


class Plugin(AAPlugin):
    def do_authenticate(self):
        client = Client("Acme", ignore_connection_error=self.plugin_configuration.getboolean("acme", "ignore", default=False))
        return client.execute_authenticate(self.username, self.mfa_identity, self.mfa_password)


def roundtrip(result):
    """What the cookie looks like after the trip through JSON and Gatehouse."""
    return json.loads(json.dumps(result))


class PipelineTest(SdkTestCase):
    host = {"user_lists": {"vip": {"allow": "no_user", "except": ["boss"]}}}

    def test_default_hooks_accept_without_context(self):
        self.assertEqual(AAPlugin("").authenticate(cookie={}, session_cookie={}, gateway_user="x")["verdict"], "ACCEPT")
        self.assertEqual(AAPlugin("").authorize(cookie={}, session_cookie={})["verdict"], "ACCEPT")
        self.assertIsNone(AAPlugin("").session_ended(cookie={}, session_cookie={}, session_id="s"))

    def test_otp_question_then_answer(self):
        cfg = "[auth]\nprompt = Code please:\ndisable_echo = yes\n"
        r = Plugin(cfg).authenticate(**hook_args(protocol="SSH"))
        self.assertEqual(r["verdict"], "NEEDINFO")
        self.assertEqual(r["question"], ("otp", "Code please: ", True))
        r = roundtrip(r)
        r2 = Plugin(cfg).authenticate(**hook_args(cookie=r["cookie"], session_cookie=r["session_cookie"], key_value_pairs={"otp": "123456"}))
        self.assertEqual(r2["verdict"], "ACCEPT")
        self.assertEqual((r2["gateway_user"], r2["gateway_groups"]), ("alice", ()))
        self.assertEqual(r2["cookie"]["mfa_identity"], "alice")

    def test_default_prompt_echo_and_non_interactive_push(self):
        r = Plugin("").authenticate(**hook_args())
        self.assertIn("one-time", r["question"][1])
        self.assertIs(r["question"][2], False)
        self.assertEqual(Plugin("").authenticate(**hook_args(protocol="rdp", server_username="push-ok", target_username=None))["verdict"], "NEEDINFO")
        self.assertEqual(Plugin("[auth]\ninteractive_protocols = ssh\n").authenticate(**hook_args(protocol="rdp", server_username="push-ok"))["verdict"], "ACCEPT")

    def test_presupplied_otp_wrong_code_and_push(self):
        self.assertEqual(Plugin("").authenticate(**hook_args(key_value_pairs={"otp": "123456"}))["verdict"], "ACCEPT")
        deny = Plugin("").authenticate(**hook_args(key_value_pairs={"otp": "000000"}))
        self.assertEqual((deny["verdict"], deny["reason"]), ("DENY", "Authentication failed"))
        self.assertIn("bad code for alice", deny["additional_metadata"])
        self.assertEqual(Plugin("").authenticate(**hook_args(server_username="push-ok", key_value_pairs={"otp": ""}))["verdict"], "ACCEPT")
        self.assertEqual(Plugin("").authenticate(**hook_args(key_value_pairs={"otp": ""}))["verdict"], "DENY")

    def test_ignore_connection_error(self):
        self.assertEqual(Plugin("").authenticate(**hook_args(key_value_pairs={"otp": "unreachable"}))["verdict"], "DENY")
        self.assertEqual(Plugin("[acme]\nignore = yes\n").authenticate(**hook_args(key_value_pairs={"otp": "unreachable"}))["verdict"], "ACCEPT")

    def test_questions_one_per_round_presupplied_skipped_and_mfa_not_repeated(self):
        cfg = "[question_2]\nkey = ticket\nprompt = Ticket:\ndisable_echo = no\n[question_1]\nkey = vp\nprompt = Vault path:\n"
        r = roundtrip(Plugin(cfg).authenticate(**hook_args(key_value_pairs={"otp": "123456"}, session_cookie={"keep": 1})))
        self.assertEqual(r["question"], ["vp", "Vault path: ", True])
        kv = {"otp": "000000", "vp": "secret/db"}  # a wrong code now would deny if MFA ran again
        r = roundtrip(Plugin(cfg).authenticate(**hook_args(cookie=r["cookie"], session_cookie=r["session_cookie"], key_value_pairs=kv)))
        self.assertEqual(r["question"], ["ticket", "Ticket: ", False])
        kv["ticket"] = "T-1"
        r = Plugin(cfg).authenticate(**hook_args(cookie=r["cookie"], session_cookie=r["session_cookie"], key_value_pairs=kv))
        self.assertEqual(r["verdict"], "ACCEPT")
        self.assertEqual(r["session_cookie"], {"keep": 1, "questions": {"vp": "secret/db", "ticket": "T-1"}})
        r = Plugin(cfg).authenticate(**hook_args(key_value_pairs={"otp": "123456", "vp": "a", "ticket": "b"}))
        self.assertEqual((r["verdict"], r["session_cookie"]["questions"]), ("ACCEPT", {"vp": "a", "ticket": "b"}))

    def test_username_precedence_mapping_and_transform(self):
        self.assertEqual(Plugin("").authenticate(**hook_args(gateway_user="gw", key_value_pairs={"gu": "g2", "otp": "123456"}))["cookie"]["username"], "gw")
        self.assertEqual(Plugin("").authenticate(**hook_args(key_value_pairs={"gu": "g2", "otp": "123456"}))["cookie"]["username"], "g2")
        self.assertEqual(Plugin("").authenticate(**hook_args(server_username=None, target_username=None))["verdict"], "DENY")
        cfg = "[usermapping source=explicit]\nAlice = push\n[username_transform]\nappend_domain = ok\n"
        r = Plugin(cfg).authenticate(**hook_args(key_value_pairs={"otp": ""}))
        self.assertEqual((r["verdict"], r["cookie"]["mfa_identity"]), ("ACCEPT", "push@ok"))

    def test_user_list_whitelist(self):
        cfg = "[whitelist source=user_list]\nname = vip\n"
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(server_username="boss", key_value_pairs={"otp": "bad"}))["verdict"], "ACCEPT")
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(key_value_pairs={"otp": "bad"}))["verdict"], "DENY")

    def test_authentication_cache(self):
        cfg = "[authentication_cache]\nhard_timeout = 60\nsoft_timeout = 60\nreuse_limit = 1\n"
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(key_value_pairs={"otp": "123456"}))["verdict"], "ACCEPT")
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(session_id="s2"))["verdict"], "ACCEPT")  # no question
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(session_id="s3"))["verdict"], "NEEDINFO")  # reuse used up
        self.assertEqual(Plugin(cfg).authenticate(**hook_args(session_id="s4", client_ip="10.9.9.9"))["verdict"], "NEEDINFO")

    def test_connection_limit_counts_parallel_processes(self):
        cfg = "[connection_limit by=client_ip_gateway_user]\nlimit = 3\n"
        with multiprocessing.get_context("fork").Pool(8) as pool:
            verdicts = pool.starmap(_authorize, [(cfg, "sid-%d" % i) for i in range(8)])
        accepted = [sid for sid, v, _ in verdicts if v == "ACCEPT"]
        self.assertEqual(len(accepted), 3)
        cookie = next(c for sid, v, c in verdicts if v == "ACCEPT")
        sid = next(sid for sid, v, _ in verdicts if v == "ACCEPT")
        Plugin(cfg).session_ended(cookie=cookie, session_cookie={}, session_id=sid)
        self.assertEqual(_authorize(cfg, "late")[1], "ACCEPT")
        self.assertEqual(_authorize(cfg, "later")[1], "DENY")
        self.assertTrue(os.path.exists(os.path.join(self.state, "gatehouse-connection-limit.json")))


def _authorize(cfg, sid):
    r = Plugin(cfg).authorize(**hook_args(session_id=sid, gateway_user="alice", gateway_groups=[], server_ip="10.1.1.1", server_port=22))
    return sid, r["verdict"], roundtrip(r)["cookie"]


class StepApiTest(SdkTestCase):
    def test_steps_are_found_by_name_and_a_plugin_can_insert_one(self):
        class Inserting(AAPlugin):
            def _authentication_steps(self):
                steps = list(super()._authentication_steps())
                names = [s.__name__ for s in steps]
                steps.insert(names.index("_ask_mfa_password"), self._extra)
                return iter(steps)

            def _extra(self):
                if "pin" not in self.connection.key_value_pairs:
                    return AAResponse.need_info("PIN:", "pin", True)
                return None

        r = roundtrip(Inserting("").authenticate(**hook_args()))
        self.assertEqual(r["question"][0], "pin")
        r = Inserting("").authenticate(**hook_args(cookie=r["cookie"], key_value_pairs={"pin": "1"}))
        self.assertEqual(r["question"][0], "otp")
