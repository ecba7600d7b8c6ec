# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
import collections
import os
import time

from helpers import SdkTestCase
from safeguard.sessions.plugin import CredentialStore, HostResolver, PluginConfiguration, PluginSDKRuntimeError, UserList
from safeguard.sessions.plugin.credential_store_exceptions import LocalCredentialStoreNotFound
from safeguard.sessions.plugin.endpoint_extractor import EndpointException, EndpointExtractor
from safeguard.sessions.plugin.memory_cache import MemoryCache
from safeguard.sessions.plugin.plugin_base import PluginBase, cookie_property, lazy_property, named_cookie_property, session_cookie_property
from safeguard.sessions.plugin.user_list_exceptions import LocalUserListNotFound

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
Response = collections.namedtuple("Response", "ok text status_code")


class Session:
    def __init__(self, response):
        self.response = response
        self.calls = []

    def get(self, url, headers=None, params=None):
        self.calls.append(("get", url, headers, params))
        return self.response

    def post(self, url, headers=None, data=None, params=None):
        self.calls.append(("post", url, headers, data, params))
        return self.response


class ServicesTest(SdkTestCase):
    host = {
        "credential_stores": {"local": {"credentials": [
            {"host": "db01", "user": "root", "passwords": ["p1", {"value": "p2"}], "keys": [{"value": KEY}],
             "certificates": [{"cert": {"value": CA}, "key": {"value": KEY}}]},
            {"host": "*", "user": "svc", "passwords": [{"env": "GH_SDK_TEST_SVC"}]}]}},
        "user_lists": {"all-but": {"allow": "all_users", "except": ["mallory"]}},
        "trusted_ca_lists": {"internal": [{"value": CA}]},
    }

    def test_credential_store(self):
        store = CredentialStore.from_config(PluginConfiguration("[credential_store]\nname = local\n"))
        self.assertEqual(store.get_passwords("DB01", "root"), ["p1", "p2"])
        self.assertEqual(store.get_keys("db01", "root"), [{"type": "ssh-rsa", "key": KEY}])
        self.assertEqual(store.get_certificates("db01", "root")[0]["cert"], CA)
        self.assertEqual(store.get_passwords("db01", "nobody"), [])
        os.environ["GH_SDK_TEST_SVC"] = "from-env"
        try:
            self.assertEqual(store.get_passwords("anything", "svc"), ["from-env"])
            self.assertEqual([(u, h) for u, h, _ in store.get_all()], [("root", "db01"), ("svc", "*")])
        finally:
            del os.environ["GH_SDK_TEST_SVC"]
        with self.assertRaises(PluginSDKRuntimeError):
            store.get_passwords("anything", "svc")  # the variable is gone
        with self.assertRaises(LocalCredentialStoreNotFound):
            CredentialStore.from_config(PluginConfiguration(""), name="nope")

    def test_user_list_and_ca_list(self):
        users = UserList.from_config(PluginConfiguration("[user_list]\nname = all-but\n"))
        self.assertEqual((users.check_user("alice"), users.check_user("mallory"), users.check_user("Mallory")), (True, False, True))
        with self.assertRaises(LocalUserListNotFound):
            UserList.from_config(PluginConfiguration(""), name="nope")
        cfg = PluginConfiguration("[tls]\nca_cert = $[internal]\nclient_cert = " + (CA + "\n" + KEY).replace("\n", "\n ") + "\n")
        self.assertEqual(cfg.get_ca_certificate("tls", "ca_cert"), CA + "\n")
        cert = cfg.get_certificate("tls", "client_cert")
        self.assertEqual((cert["cert"], cert["key"], cert["type"]), (CA + "\n", KEY + "\n", "ssh-rsa"))

    def test_endpoint_extractor(self):
        session = Session(Response(True, '{"data": {"password": "x"}}', 200))
        extractor = EndpointExtractor("https://vault:8200/")
        self.assertEqual(extractor.extract_data_from_endpoint(session, "v1/secret", "data.password"), "x")
        self.assertEqual(session.calls[0], ("get", "https://vault:8200/v1/secret", None, None))
        extractor.invoke_http_method(session, "v1/login", "post", data={"a": 1})
        self.assertEqual(session.calls[1][3], '{"a": 1}')
        with self.assertRaisesRegex(EndpointException, "did not contain the information"):
            extractor.extract_data_from_endpoint(session, "v1/secret", "data.nothing")
        with self.assertRaisesRegex(EndpointException, "Endpoint responded with NOK; .*status_code='403'.*status_text='Forbidden'"):
            extractor.extract_data_from_endpoint(Session(Response(False, "", 403)), "v1/secret")

    def test_memory_cache_and_host_resolver(self):
        cache = MemoryCache(prefix="p:", ttl=0)
        cache.set("k", {"v": 1})
        cache.set("short", 1, ttl=0.05)
        self.assertEqual(MemoryCache(prefix="p:").get("k"), {"v": 1})
        self.assertIsNone(MemoryCache(prefix="q:").get("k"))
        time.sleep(0.1)
        self.assertIsNone(cache.get("short"))
        self.assertIn("localhost", HostResolver().resolve_hosts_by_ip("127.0.0.1"))
        self.assertEqual(HostResolver().resolve_hosts_by_ip("256.1.1.1"), [])

    def test_exception_text_and_decorators(self):
        self.assertEqual(str(PluginSDKRuntimeError("Failed", {"status_code": 403})), "Failed; status_code='403'")

        class P(PluginBase):
            calls = 0

            @lazy_property
            def lazy(self):
                P.calls += 1
                return P.calls

            @cookie_property
            def in_cookie(self):
                return "c"

            @session_cookie_property
            def in_session(self):
                return "s"

            @named_cookie_property(key="_custom")
            def named(self):
                return "n"

        p = P("[https-proxy]\nserver = proxy.local\nport = 8080\n")
        self.assertEqual((p.lazy, p.lazy, p.in_cookie, p.in_session, p.named), (1, 1, "c", "s", "n"))
        self.assertEqual(p.cookie, {"in_cookie": "c", "_custom": "n"})
        self.assertEqual(p.session_cookie, {"in_session": "s"})
        p.cookie["in_cookie"] = "kept"
        self.assertEqual(p.in_cookie, "kept")
        self.assertEqual(p.proxy_settings, {"server": "proxy.local", "port": 8080, "username": None, "password": None})
        self.assertEqual(os.environ.get("HTTPS_PROXY"), "http://proxy.local:8080")
        os.environ.pop("HTTPS_PROXY", None)
        os.environ.pop("https_proxy", None)
