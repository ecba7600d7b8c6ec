# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""LDAP server policies of config.yaml (`sdk.ldap_servers`), queried with python-ldap.

A policy: url, bind_dn + bind_password (a secret reference; anonymous bind without them), base_dn,
user_name_attribute (default uid; sAMAccountName for Active Directory), user_filter (extra filter ANDed in),
group_base_dn (default base_dn), membership: "posix" (posixGroup memberUid = user name), "member"
(groupOfNames/group member = user DN; the default) or "memberof" (the user's memberOf DNs), group_name_attribute
(default cn), start_tls, timeout. Group names compare case-insensitively.
"""
from .host_context import resolve_secret, section
from .ldap_server_exceptions import LDAPOperationError, LDAPUserNotFound


class LDAPServer:
    def __init__(self, name, policy, user_attribute=None, user_groups=None):
        self.name = name
        self._policy = policy
        self.user_attribute = user_attribute
        self.user_groups = user_groups or []

    @classmethod
    def from_config(cls, plugin_configuration, section="ldap_server", name=None):
        name = name or plugin_configuration.get(section, "name", required=True)
        policy = _servers().get(name)
        if policy is None:
            raise LDAPOperationError("LDAP server policy not found", {"name": name})
        return cls(name, policy, plugin_configuration.get(section, "user_attribute"),
                   plugin_configuration.getlist(section, "user_groups", default=[]))

    def _connect(self):
        try:
            import ldap
        except ImportError:
            raise LDAPOperationError("python-ldap is not installed (Debian: python3-ldap)")
        p = self._policy
        try:
            conn = ldap.initialize(p["url"])
            timeout = float(p.get("timeout", 10))
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
            conn.set_option(ldap.OPT_TIMEOUT, timeout)
            conn.set_option(ldap.OPT_REFERRALS, 0)
            if p.get("start_tls"):
                conn.start_tls_s()
            conn.simple_bind_s(p.get("bind_dn") or "", resolve_secret(p.get("bind_password")) or "")
            return conn
        except ldap.LDAPError as err:
            raise LDAPOperationError("LDAP connection failed", {"server": self.name, "error": _describe(err)})

    def _user(self, conn, username, attributes):
        import ldap
        from ldap.filter import escape_filter_chars

        p = self._policy
        name_attr = p.get("user_name_attribute", "uid")
        flt = "(%s=%s)" % (name_attr, escape_filter_chars(username))
        if p.get("user_filter"):
            flt = "(&%s%s)" % (flt, p["user_filter"])
        try:
            found = conn.search_s(p["base_dn"], ldap.SCOPE_SUBTREE, flt, attributes or ["1.1"])
        except ldap.LDAPError as err:
            raise LDAPOperationError("LDAP search failed", {"server": self.name, "error": _describe(err)})
        found = [(dn, attrs) for dn, attrs in found if dn]
        if not found:
            raise LDAPUserNotFound("User not found in LDAP", {"server": self.name, "username": username})
        return found[0]

    def get_user_string_attributes(self, username, attributes):
        conn = self._connect()
        try:
            _, attrs = self._user(conn, username, list(attributes))
        finally:
            conn.unbind_s()
        lowered = {k.lower(): v for k, v in attrs.items()}
        return {a: [v.decode("utf-8", "replace") for v in lowered.get(a.lower(), [])] for a in attributes}

    def get_user_string_attribute(self, username, attribute=None):
        attribute = attribute or self.user_attribute
        if not attribute:
            raise LDAPOperationError("No user_attribute configured for the LDAP lookup")
        return self.get_user_string_attributes(username, [attribute])[attribute]

    def filter_user_groups(self, username, groups=None):
        """The names among `groups` (default: user_groups of the configuration) that the user is a member of."""
        wanted = list(groups if groups is not None else self.user_groups)
        member_of = {g.lower() for g in self._user_groups(username)}
        return [g for g in wanted if g.lower() in member_of]

    def _user_groups(self, username):
        import ldap
        from ldap.filter import escape_filter_chars

        p = self._policy
        mode = p.get("membership", "member")
        name_attr = p.get("group_name_attribute", "cn")
        conn = self._connect()
        try:
            dn, attrs = self._user(conn, username, ["memberOf"])
            if mode == "memberof":
                return [_rdn_value(v.decode("utf-8", "replace")) for v in attrs.get("memberOf", [])]
            flt = ("(memberUid=%s)" % escape_filter_chars(username) if mode == "posix"
                   else "(|(member=%s)(uniqueMember=%s))" % (escape_filter_chars(dn), escape_filter_chars(dn)))
            try:
                found = conn.search_s(p.get("group_base_dn") or p["base_dn"], ldap.SCOPE_SUBTREE, flt, [name_attr])
            except ldap.LDAPError as err:
                raise LDAPOperationError("LDAP group search failed", {"server": self.name, "error": _describe(err)})
            names = []
            for gdn, gattrs in found:
                if gdn:
                    names.extend(v.decode("utf-8", "replace") for v in gattrs.get(name_attr, []))
            return names
        finally:
            conn.unbind_s()


def _rdn_value(dn):
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1] if "=" in first else first


def _describe(err):
    info = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
    return info.get("desc") or str(err)


def _servers():
    return section("ldap_servers")
