# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""User lists of config.yaml (`sdk.user_lists`): `allow: all_users|no_user` with `except` names."""
from .host_context import section
from .user_list_exceptions import LocalUserListNotFound


class UserList:
    def __init__(self, name, allow, exceptions):
        self.name = name
        self.allow = allow
        self.exceptions = list(exceptions)

    @classmethod
    def from_config(cls, plugin_configuration, section="user_list", name=None):
        name = name or plugin_configuration.get(section, "name", required=True)
        spec = _lists().get(name)
        if spec is None:
            raise LocalUserListNotFound("Local user list not found", {"name": name})
        return cls(name, spec.get("allow", "no_user"), spec.get("except") or [])

    def check_user(self, username):
        # Case-sensitive, as the SDK documents.
        listed = username in self.exceptions
        return listed if self.allow == "no_user" else not listed


def _lists():
    return section("user_lists")
