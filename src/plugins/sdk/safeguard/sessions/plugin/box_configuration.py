# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""System settings SPS keeps for the whole box, as far as Gatehouse has them."""
import socket

from .host_context import host_context


class BoxConfiguration:
    def __init__(self, settings):
        self._settings = settings

    @classmethod
    def open(cls):
        return cls(host_context())

    def get_gateway_fqdn(self):
        return self._settings.get("gateway_fqdn") or socket.getfqdn()

    def get_https_proxy(self):
        return self._settings.get("https_proxy") or {}

    def get_starling_join_credential_string(self):
        return None  # Gatehouse does not join Starling
