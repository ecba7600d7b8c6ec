# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""A read-only view of a hook's arguments under every name SDK releases used (1.1 to 1.9)."""

_FIELDS = ("gateway_domain", "gateway_groups", "gateway_password", "gateway_username", "key_value_pairs",
           "client_ip", "client_hostname", "client_port", "connection_name", "protocol", "session_id",
           "server_domain", "server_ip", "server_hostname", "server_port", "server_username")
# Older names accepted by the constructor, mapped onto the current ones.
_LEGACY = {"gateway_user": "gateway_username", "target_username": "server_username",
           "target_port": "server_port", "target_domain": "server_domain"}


class ConnectionInfo:
    def __init__(self, gateway_domain=None, gateway_groups=None, gateway_password=None, gateway_username=None,
                 key_value_pairs=None, client_ip=None, client_hostname=None, client_port=None,
                 connection_name=None, protocol=None, session_id=None, server_domain=None, server_ip=None,
                 server_hostname=None, server_port=None, server_username=None, **legacy):
        values = dict(locals())
        values.pop("self")
        values.pop("legacy")
        for old, new in _LEGACY.items():
            if values.get(new) is None and legacy.get(old) is not None:
                values[new] = legacy[old]
        # target_server / target_host / target_ip name the target's address: an IP or a host name.
        for old in ("target_server", "target_host", "target_ip"):
            address = legacy.get(old)
            if address is not None and values["server_ip"] is None and values["server_hostname"] is None:
                values["server_ip" if _looks_like_ip(address) else "server_hostname"] = address
        if values["key_value_pairs"] is None:
            values["key_value_pairs"] = {}
        if values["gateway_groups"] is None:
            values["gateway_groups"] = ()
        self.__dict__["_values"] = values

    @classmethod
    def from_hook_arguments(cls, kwargs):
        known = set(_FIELDS) | set(_LEGACY) | {"target_server", "target_host", "target_ip"}
        return cls(**{k: v for k, v in kwargs.items() if k in known})

    def __getattr__(self, name):
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        raise AttributeError(name)

    def __setattr__(self, name, value):
        raise AttributeError("ConnectionInfo is read-only")

    # Names kept from older SDK releases.
    @property
    def gateway_user(self):
        return self.gateway_username

    @property
    def target_username(self):
        return self.server_username

    @property
    def target_port(self):
        return self.server_port

    @property
    def target_domain(self):
        return self.server_domain

    @property
    def target_host(self):
        return self.server_hostname or self.server_ip

    @property
    def target_server(self):
        return self.target_host

    @property
    def target_ip(self):
        return self.server_ip or self.server_hostname

    def __repr__(self):
        shown = {k: v for k, v in self._values.items() if k not in ("gateway_password", "key_value_pairs")}
        return "ConnectionInfo(%r)" % shown


def _looks_like_ip(text):
    import ipaddress

    try:
        ipaddress.ip_address(str(text).strip("[]"))
        return True
    except ValueError:
        return False
