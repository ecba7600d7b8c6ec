# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
import os
import textwrap

from helpers import SdkTestCase
from safeguard.sessions.plugin import PluginConfiguration, PluginSDKValueError
from safeguard.sessions.plugin.plugin_configuration_exceptions import RequiredConfigurationSettingNotFound

TEXT = """
    ; a comment
    # another comment
    [whitelist source=user_list]
    name = admins
    [Plugin]
    Server: radius.example
    port = 1812
    ratio = 0.5
    secret = $
    literal = $$dollar
    flag = Yes
    off = no
    kind = PAP
    list = a, b ,c,
    hosts = one
      two
      three
    empty =
"""


class ConfigurationTest(SdkTestCase):
    host = {"credential_stores": {"local": {"credentials": [
        {"host": "Plugin", "user": "secret", "passwords": [{"env": "GH_SDK_TEST_SECRET"}]}]}}}

    def cfg(self, text=TEXT + "[credential_store]\nname = local\n", defaults=None):
        return PluginConfiguration(text, defaults)

    def test_sections_with_spaces_comments_colon_and_case(self):
        c = self.cfg()
        self.assertEqual(c.get("whitelist source=user_list", "name"), "admins")
        self.assertEqual(c.get("Plugin", "server"), "radius.example")
        self.assertEqual(c.get("Plugin", "SERVER"), "radius.example")
        self.assertIsNone(c.get("plugin", "server"))  # section names keep their case
        self.assertNotIn("; a comment", c.sections())

    def test_continuation_lines_and_lists(self):
        c = self.cfg()
        self.assertEqual(c.get("Plugin", "hosts"), "one\ntwo\nthree")
        self.assertEqual(c.getlist("Plugin", "hosts"), ["one", "two", "three"])
        self.assertEqual(c.getlist("Plugin", "list"), ["a", "b", "c"])
        self.assertEqual(c.getlist("Plugin", "missing", default=["x"]), ["x"])

    def test_typed_getters(self):
        c = self.cfg()
        self.assertEqual(c.getint("Plugin", "port"), 1812)
        self.assertEqual(c.getfloat("Plugin", "ratio"), 0.5)
        self.assertIs(c.getboolean("Plugin", "flag"), True)
        self.assertIs(c.getboolean("Plugin", "off"), False)
        self.assertEqual(c.getienum("Plugin", "kind", ("pap", "chap")), "pap")
        with self.assertRaises(PluginSDKValueError):
            c.getint("Plugin", "server")
        with self.assertRaises(PluginSDKValueError):
            c.getboolean("Plugin", "server")
        with self.assertRaises(PluginSDKValueError):
            c.getienum("Plugin", "kind", ("mschap",))

    def test_missing_empty_default_required(self):
        c = self.cfg()
        self.assertEqual(c.get("Plugin", "empty", default="d"), "d")
        self.assertEqual(c.get("nosuch", "x", default=3), 3)
        self.assertEqual(c.get_options("nosuch"), [])
        self.assertIn("port", c.get_options("Plugin"))
        with self.assertRaises(RequiredConfigurationSettingNotFound):
            c.get("Plugin", "nothere", required=True)

    def test_dollar_reads_the_local_credential_store_and_double_dollar_is_literal(self):
        os.environ["GH_SDK_TEST_SECRET"] = "s3cret"
        try:
            self.assertEqual(self.cfg().get("Plugin", "secret"), "s3cret")
        finally:
            del os.environ["GH_SDK_TEST_SECRET"]
        self.assertEqual(self.cfg().get("Plugin", "literal"), "$dollar")

    def test_defaults_merge_per_option(self):
        c = self.cfg("[a]\nx = 1\n", defaults="[a]\nx = 9\ny = 2\n[b]\nz = 3\n")
        self.assertEqual((c.get("a", "x"), c.get("a", "y"), c.get("b", "z")), ("1", "2", "3"))

    def test_indented_text_and_pem(self):
        pem = "-----BEGIN RSA PRIVATE KEY-----\n MIIB\n AAAA\n -----END RSA PRIVATE KEY-----"
        c = PluginConfiguration(textwrap.indent("[k]\nkey = " + pem + "\n", "        "))
        self.assertEqual(c.get_key("k", "key"), {"type": "ssh-rsa", "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIB\nAAAA\n-----END RSA PRIVATE KEY-----\n"})
