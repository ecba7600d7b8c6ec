# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Reverse DNS for plugins: the names of an IP address."""
import socket

from .logging import get_logger


class HostResolver:
    def __init__(self, logger=None):
        self.logger = logger or get_logger(__name__)

    @classmethod
    def from_config(cls, plugin_configuration=None):
        return cls()

    def resolve_hosts_by_ip(self, ip):
        """The primary name and the aliases of `ip`; [] when it has none (Gatehouse decision: no exception)."""
        try:
            name, aliases, _ = socket.gethostbyaddr(ip)
        except (OSError, UnicodeError) as err:
            self.logger.info("No host name for %s: %s", ip, err)
            return []
        return [name] + [a for a in aliases if a != name]
