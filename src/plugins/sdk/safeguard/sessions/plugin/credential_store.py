# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Local credential stores of config.yaml (`sdk.credential_stores`): passwords, keys and certificates per
(host, user). Backs `$` configuration values and the CredentialStore service."""
from .credential_store_exceptions import LocalCredentialStoreNotFound
from .host_context import resolve_secret, section
from .key_type import determine_key_type


class CredentialStore:
    def __init__(self, name, entries):
        self.name = name
        self._entries = entries

    @classmethod
    def from_config(cls, plugin_configuration, section="credential_store", name=None):
        name = name or plugin_configuration.get(section, "name", required=True)
        store = _stores().get(name)
        if store is None:
            raise LocalCredentialStoreNotFound("Local credential store not found", {"name": name})
        return cls(name, store.get("credentials") or [])

    def _matching(self, host, user):
        for entry in self._entries:
            entry_host = str(entry.get("host", ""))
            if entry.get("user") == user and (entry_host == "*" or entry_host.lower() == str(host).lower()):
                yield entry

    def get_passwords(self, host, user):
        return [resolve_secret(p) for e in self._matching(host, user) for p in e.get("passwords") or []]

    def get_keys(self, host, user):
        keys = []
        for entry in self._matching(host, user):
            for ref in entry.get("keys") or []:
                key = resolve_secret(ref)
                keys.append({"type": determine_key_type(key), "key": key})
        return keys

    def get_certificates(self, host, user):
        certs = []
        for entry in self._matching(host, user):
            for ref in entry.get("certificates") or []:
                key = resolve_secret(ref.get("key"))
                certs.append({"cert": resolve_secret(ref.get("cert")), "key": key,
                              "type": determine_key_type(key) if key else None})
        return certs

    def get_credentials(self, host, user):
        return {"passwords": self.get_passwords(host, user), "keys": self.get_keys(host, user),
                "certificates": self.get_certificates(host, user)}

    def get_all(self):
        return [(e.get("user"), e.get("host"), self.get_credentials(e.get("host"), e.get("user"))) for e in self._entries]


def _stores():
    return section("credential_stores")
