# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""The AA steps that consult something outside the call: user lists, LDAP, and the authentication cache and
connection counts, which live in the plugin's state directory and are shared by parallel hook processes."""
import os
import time

from .ldap_server import LDAPServer
from .ldap_server_exceptions import LDAPOperationError, LDAPUserNotFound
from .plugin_response import AAResponse, DenyReasons
from .state_file import locked_json, state_directory
from .user_list import UserList

CACHE_FILE = "gatehouse-authentication-cache.json"
LIMIT_FILE = "gatehouse-connection-limit.json"
# A session whose session_ended never came (Gatehouse killed) stops counting after this long.
STALE_SESSION_S = 7 * 86400


class AAStateSteps:
    """Mixed into AAPlugin; expects plugin_configuration, connection, cookie, username, _progress()."""

    # --- whitelists ---

    def _check_user_list_whitelist(self):
        section = "whitelist source=user_list"
        if not self.plugin_configuration.has_section(section):
            return None
        if UserList.from_config(self.plugin_configuration, section=section).check_user(self.username):
            self.logger.info("%s is on the user list whitelist: no MFA", self.username)
            return AAResponse.accept(reason="user list whitelist")
        return None

    def _check_ldap_group_whitelist(self):
        section = "whitelist source=ldap_server_group"
        cfg = self.plugin_configuration
        if not cfg.has_section(section):
            return None
        allow = cfg.getienum(section, "allow", ("no_user", "all_users"), default="no_user")
        groups = cfg.getlist(section, "except", default=[])
        try:
            member = bool(LDAPServer.from_config(cfg).filter_user_groups(self.username, groups))
        except (LDAPOperationError, LDAPUserNotFound) as err:
            # Fail towards MFA: an LDAP problem never lets anybody skip it.
            self.logger.warning("LDAP group whitelist not applied: %s", err)
            return None
        if member == (allow == "no_user"):
            self.logger.info("%s is whitelisted by LDAP group: no MFA", self.username)
            return AAResponse.accept(reason="LDAP group whitelist")
        return None

    # --- LDAP user mapping ---

    def _map_username_ldap(self):
        section = "usermapping source=ldap_server"
        cfg = self.plugin_configuration
        if not cfg.has_section(section) or self._progress("authenticate").get("mapped"):
            return None
        attribute = cfg.get(section, "user_attribute", required=True)
        reasons = DenyReasons()
        try:
            values = LDAPServer.from_config(cfg).get_user_string_attribute(self.username, attribute)
        except LDAPUserNotFound:
            self.logger.info("%s not found in LDAP", self.username)
            return AAResponse.deny(reason="user not found in LDAP", deny_reason=reasons.authentication_failure)
        except LDAPOperationError as err:
            self.logger.error("LDAP user mapping failed: %s", err)
            return AAResponse.deny(reason=str(err), deny_reason=reasons.backend_service_error)
        if not values:
            self.logger.info("%s has no %s in LDAP", self.username, attribute)
            return AAResponse.deny(reason="no MFA identity in LDAP", deny_reason=reasons.authentication_failure)
        self.cookie["mfa_identity"] = values[0]
        self._progress("authenticate")["mapped"] = "ldap_server"
        return None

    # --- authentication cache ---

    def _cache_settings(self):
        cfg = self.plugin_configuration
        section = "authentication_cache"
        reuse = cfg.getint(section, "reuse_limit", default=0)
        if reuse <= 0:
            return None  # reuse_limit=0: the cache is off
        return (cfg.getint(section, "hard_timeout", default=90), cfg.getint(section, "soft_timeout", default=15), reuse)

    def _cache_key(self):
        c = self.connection
        return "%s|%s|%s" % (c.connection_name or "", c.client_ip or "", self.username)

    def _check_authentication_cache(self):
        settings = self._cache_settings()
        if settings is None:
            return None
        hard, soft, reuse = settings
        now = time.time()
        hit = False
        with locked_json(os.path.join(state_directory(), CACHE_FILE)) as data:
            for key in [k for k, e in data.items() if now - e["created"] >= hard or now - e["last"] >= soft]:
                del data[key]
            entry = data.get(self._cache_key())
            if entry is not None and entry["uses"] < reuse:
                entry["uses"] += 1
                entry["last"] = now
                hit = True
        if hit:
            self.logger.info("%s authenticated from the authentication cache", self.username)
            return AAResponse.accept(reason="authentication cache")
        return None

    def _refresh_authentication_cache(self):
        # Only a real MFA success starts a cache entry; whitelisted or cached logins do not.
        if self._cache_settings() is None or self._progress("authenticate").get("accepted_by") != "do_authenticate":
            return None
        now = time.time()
        with locked_json(os.path.join(state_directory(), CACHE_FILE)) as data:
            data[self._cache_key()] = {"created": now, "last": now, "uses": 0}
        return None

    # --- connection limit ---

    def _connection_limit(self):
        cfg = self.plugin_configuration
        for section in cfg.sections():
            words = section.split()
            if words and words[0] == "connection_limit":
                by = dict(w.split("=", 1) for w in words[1:] if "=" in w).get("by", "client_ip_gateway_user")
                return section, by, cfg.getint(section, "limit", default=0)
        return None

    def _check_and_increase_client_connection_count(self):
        setting = self._connection_limit()
        if setting is None or setting[2] <= 0:
            return None
        _, by, limit = setting
        c = self.connection
        user = c.gateway_username or self.username or ""
        key = {"client_ip": c.client_ip or "", "gateway_user": user}.get(by, "%s|%s" % (c.client_ip or "", user))
        now = time.time()
        with locked_json(os.path.join(state_directory(), LIMIT_FILE)) as data:
            sessions = data.setdefault(key, {})
            for sid in [s for s, t in sessions.items() if now - t > STALE_SESSION_S]:
                del sessions[sid]
            if c.session_id not in sessions and len(sessions) >= limit:
                refused = True
            else:
                sessions[c.session_id] = now
                refused = False
        if refused:
            self.logger.info("Connection limit %d reached for %s", limit, key)
            return AAResponse.deny(reason="connection limit reached", deny_reason="Connection limit reached")
        self.cookie.setdefault("__plugin_sdk_private", {})["connection_limit"] = key
        return None

    def _decrease_client_connection_count(self):
        key = (self.cookie.get("__plugin_sdk_private") or {}).get("connection_limit")
        if key is None:
            return None
        sid = self.connection.session_id
        with locked_json(os.path.join(state_directory(), LIMIT_FILE)) as data:
            sessions = data.get(key) or {}
            sessions.pop(sid, None)
            if sessions:
                data[key] = sessions
            else:
                data.pop(key, None)
        return None
