"""__NAME__: asks for a token (echo off), accepts the configured one, denies after three wrong tries.

Configuration (the policy's aa_plugin.configuration, INI as in SPS):
    [__NAME__]
    token = letmein
Gatehouse runs every hook call in a new process: keep what must last in the returned cookie.
"""
import configparser


class Plugin(object):
    def __init__(self, configuration=""):
        parser = configparser.ConfigParser()
        parser.read_string(configuration or "")
        self.token = parser.get("__NAME__", "token", fallback="letmein")

    def authenticate(self, key_value_pairs, cookie):
        answer = key_value_pairs.get("token")
        if answer == self.token:
            return {"verdict": "ACCEPT", "cookie": cookie}
        tries = cookie.get("tries", 0) + (0 if answer is None else 1)
        cookie = dict(cookie, tries=tries)
        if tries >= 3:
            return {"verdict": "DENY", "reason": "Wrong token three times.", "cookie": cookie}
        return {"verdict": "NEEDINFO", "question": ("token", "Token: ", True), "cookie": cookie}

    def authorize(self, server_username):
        return {"verdict": "ACCEPT", "additional_metadata": "granted %s" % server_username}

    def session_ended(self, session_id, cookie):
        print("session %s ended after %d wrong tries" % (session_id, cookie.get("tries", 0)))
