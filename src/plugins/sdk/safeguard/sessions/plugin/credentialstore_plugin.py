# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Credential store plugins on the SDK: account and asset candidates, check-in at the configured moment,
and the credentials to reach the vault with. Plugins write do_get_password_list / do_get_private_key_list
and, if their vault checks credentials out, do_check_in_credential."""
import copy

from .connection_info import ConnectionInfo
from .key_type import determine_key_type
from .plugin_base import PluginBase

PRIVATE = "__plugin_sdk_private"
TRIGGERS = ("session-ended", "authentication-completed")
DEFAULT_GENERATORS = ["hostname", "ip", "domain", "domain_asset_mapping"]


class CredentialStorePlugin(PluginBase):
    def __init__(self, configuration, defaults=None, logger=None, configuration_section=None):
        super().__init__(configuration, defaults=defaults, logger=logger)
        self._configuration_section = configuration_section
        self.connection = ConnectionInfo()
        self.account = None
        self.asset = None
        self.authentication_username = None
        self.authentication_password = None

    determine_key_type = staticmethod(determine_key_type)

    # --- raw hooks ---

    def get_password_list(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        private = self.cookie.get(PRIVATE) or {}
        if private.get("checked_out") == "key":
            # A key was checked out, and now a password is asked for: the key did not get the user in.
            self._check_in()
        return self._lookup(self.do_get_password_list, "passwords", "password")

    def get_private_key_list(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        return self._lookup(self.do_get_private_key_list, "private_keys", "key")

    def authentication_completed(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        self.do_authentication_completed()
        if (self.cookie.get(PRIVATE) or {}).get("check_in_trigger") == "authentication-completed":
            self._check_in()
        return self._cookies({})

    def session_ended(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        # Whatever is still checked out goes back now: the session-ended trigger, or a failed target login.
        if self.cookie.get("account") is not None and (self.cookie.get(PRIVATE) or {}).get("check_in_trigger"):
            self._check_in()
        self.do_session_ended()
        return self._cookies({})

    # --- what plugins override ---

    def do_get_password_list(self):
        return None

    def do_get_private_key_list(self):
        return None

    def do_authentication_completed(self):
        return None

    def do_check_in_credential(self):
        return None

    def do_session_ended(self):
        return None

    # --- candidates ---

    def _generate_accounts(self):
        cfg = self.plugin_configuration
        user = self.connection.server_username
        if user:
            yield "%s%s%s" % (cfg.get("account", "prefix", default=""), user, cfg.get("account", "suffix", default=""))

    def _generate_assets(self):
        seen = []
        for name in self.plugin_configuration.getlist("assets", "generator", default=DEFAULT_GENERATORS):
            generator = getattr(self, "_assets_from_" + name, None) or getattr(self, name, None)
            if not callable(generator):
                self.logger.warning("Unknown asset generator %s", name)
                continue
            for asset in generator() or []:
                if asset is not None and asset != "" and asset not in seen:
                    seen.append(asset)
                    yield asset

    @property
    def domain_suffix(self):
        suffix = self.plugin_configuration.get("assets", "domain_suffix")
        return "." + suffix.lstrip(".") if suffix else ""

    def _domain(self):
        c = self.connection
        if c.server_domain:
            return c.server_domain
        host = c.server_hostname or ""
        return host.split(".", 1)[1] if "." in host else None

    def _assets_from_hostname(self):
        host = self.connection.server_hostname
        return [host + self.domain_suffix] if host else []

    def _assets_from_ip(self):
        return [self.connection.server_ip]

    def _assets_from_domain(self):
        domain = self._domain()
        return [domain + self.domain_suffix] if domain else []

    def _assets_from_domain_asset_mapping(self):
        domain = self._domain()
        return [self.plugin_configuration.get("domain_asset_mapping", domain)] if domain else []

    # --- machinery ---

    def _begin(self, cookie, session_cookie, kwargs):
        self.cookie = copy.deepcopy(dict(cookie or {}))
        self.session_cookie = copy.deepcopy(dict(session_cookie or {}))
        self.connection = ConnectionInfo.from_hook_arguments(kwargs)
        self.account = self.cookie.get("account")
        self.asset = self.cookie.get("asset")
        section = self._configuration_section
        if section:
            cfg = self.plugin_configuration
            how = cfg.getienum(section, "use_credential", ("gateway", "explicit", "token"), default="gateway")
            if how == "explicit":
                self.authentication_username = cfg.get(section, "username", required=True)
                self.authentication_password = cfg.get(section, "password", required=True)
            elif how == "gateway":
                self.authentication_username = self.connection.gateway_username
                self.authentication_password = self.connection.gateway_password

    def _trigger(self):
        cfg = self.plugin_configuration
        protocol = str(self.connection.protocol or "").lower()
        default = cfg.getienum("check-in-trigger", "default", TRIGGERS, default="session-ended")
        return cfg.getienum("check-in-trigger", protocol, TRIGGERS, default=default) if protocol else default

    def _lookup(self, method, key, kind):
        for account in self._generate_accounts():
            for asset in self._generate_assets():
                self.account, self.asset = account, asset
                found = (method() or {}).get(key) or []
                if key == "private_keys":
                    found = [tuple(k) for k in found if k and k[0]]
                if found:
                    self.cookie["account"], self.cookie["asset"] = account, asset
                    self.cookie[PRIVATE] = {"check_in_trigger": self._trigger()}
                    self.logger.info("Found %d %s(s) for account %s on asset %s", len(found), kind, account, asset)
                    result = self._cookies({key: found})
                    if kind == "key":
                        result["cookie"][PRIVATE]["checked_out"] = "key"
                    return result
        self.account = self.asset = None
        self.cookie["account"], self.cookie["asset"] = None, None
        self.logger.info("No %s found", kind)
        return self._cookies({key: []})

    def _check_in(self):
        self.do_check_in_credential()
        self.cookie.pop(PRIVATE, None)

    def _cookies(self, result):
        result["cookie"] = self.cookie
        result["session_cookie"] = self.session_cookie
        return result
