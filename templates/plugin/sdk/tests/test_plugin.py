"""Needs the safeguard.sessions.plugin package (the SPS Plugin SDK) that Gatehouse provides.

Runs the plugin's hooks through Gatehouse with scripted answers (`gatehouse plugin try --answers`).

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
    def test_right_otp_is_accepted(self):
        status, run = try_plugin("--answers", "otp=letmein")
        self.assertEqual(status, 0)
        self.assertEqual(run["outcome"], "ACCEPT")
        self.assertEqual(run["steps"][-1]["hook"], "session_ended")

    def test_wrong_otp_is_denied(self):
        status, run = try_plugin("--answers", "otp=nope")
        self.assertEqual(status, 1)
        self.assertEqual(run["outcome"], "DENY")
        self.assertEqual(run["user_message"], "Wrong one-time password.")

    def test_expected_otp_from_configuration(self):
        status, run = try_plugin("--config", "[__NAME__]\ntoken = other", "--answers", "otp=other")
        self.assertEqual(run["outcome"], "ACCEPT")


if __name__ == "__main__":
    unittest.main()
