# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""A requests.Session set up from `[tls]`: enabled, ca_cert (PEM or `$[trusted CA list]`), client_cert (PEM
with its key, or `$`). With TLS enabled and no ca_cert the system's CAs verify the server (Gatehouse decision:
verification is never switched off silently)."""
import contextlib
import os
import tempfile

from .exceptions import PluginSDKRuntimeError


class RequestsTLS:
    def __init__(self, tls_enabled=True, ca_certificate=None, client_certificate=None):
        self.tls_enabled = tls_enabled
        self.ca_certificate = ca_certificate
        self.client_certificate = client_certificate

    @classmethod
    def from_config(cls, plugin_configuration, section="tls"):
        enabled = plugin_configuration.getboolean(section, "enabled", default=True)
        if not enabled:
            return cls(False)
        return cls(True, plugin_configuration.get_ca_certificate(section, "ca_cert"),
                   plugin_configuration.get_certificate(section, "client_cert"))

    @contextlib.contextmanager
    def open_session(self):
        try:
            import requests
        except ImportError:
            raise PluginSDKRuntimeError("requests is not installed (Debian: python3-requests)")
        with tempfile.TemporaryDirectory(prefix="gatehouse-tls-") as scratch:
            session = requests.Session()
            if self.tls_enabled and self.ca_certificate:
                session.verify = _write(scratch, "ca.pem", self.ca_certificate)
            if self.tls_enabled and self.client_certificate and self.client_certificate.get("cert"):
                cert = _write(scratch, "cert.pem", self.client_certificate["cert"])
                key = _write(scratch, "key.pem", self.client_certificate["key"] or "")
                session.cert = (cert, key)
            try:
                yield session
            finally:
                session.close()


def _write(folder, name, text):
    path = os.path.join(folder, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
