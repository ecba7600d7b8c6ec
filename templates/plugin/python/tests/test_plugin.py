"""Runs the plugin's hooks through Gatehouse with scripted answers (`gatehouse plugin try --answers`).

Run: python3 -m unittest discover -s tests   (needs `gatehouse` on PATH, or GATEHOUSE=/path/to/gatehouse)
"""
import json
import os
import subprocess
import unittest

PLUGIN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def try_plugin(*args):
    gatehouse = os.environ.get("GATEHOUSE", "gatehouse")
    r = subprocess.run([gatehouse, "plugin", "try", PLUGIN, "--username", "alice@server", "--json"] + list(args),
                       capture_output=True, text=True, timeout=120)
    return r.returncode, json.loads(r.stdout)


class PluginTest(unittest.TestCase):
    def test_right_token_is_accepted(self):
        status, run = try_plugin("--answers", "token=letmein")
        self.assertEqual(status, 0)
        self.assertEqual(run["outcome"], "ACCEPT")
        self.assertEqual([s["hook"] for s in run["steps"]], ["authenticate", "authenticate", "authorize", "session_ended"])
        self.assertEqual(run["steps"][1]["args"]["key_value_pairs"]["token"], "***")

    def test_three_wrong_tokens_are_denied(self):
        status, run = try_plugin("--answers", "token=nope")
        self.assertEqual(status, 1)
        self.assertEqual(run["outcome"], "DENY")
        self.assertEqual(run["user_message"], "Wrong token three times.")

    def test_token_from_configuration(self):
        status, run = try_plugin("--config", "[__NAME__]\ntoken = other", "--answers", "token=other")
        self.assertEqual(run["outcome"], "ACCEPT")


if __name__ == "__main__":
    unittest.main()
