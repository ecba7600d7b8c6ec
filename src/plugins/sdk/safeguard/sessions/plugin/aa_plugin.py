# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""AA plugins on the SDK: the raw hooks run a pipeline of named steps; plugins write do_authenticate,
do_authorize and do_session_ended.

Progress is kept in the plugin cookie under PRIVATE, because every hook call is a fresh process: the names of
the steps done and, once a step accepted, that verdict, so that a call after a NEEDINFO resumes where the
previous one stopped (questions after MFA never repeat the MFA).
"""
import copy
import re

from .aa_state import AAStateSteps
from .connection_info import ConnectionInfo
from .exceptions import PluginSDKRuntimeError
from .plugin_base import PluginBase, cookie_property
from .plugin_response import AAResponse, DenyReasons

PRIVATE = "__plugin_sdk_private"
DEFAULT_PROMPT = "Press Enter for push notification or type one-time password:"
INTERACTIVE_PROTOCOLS = ["rdp", "ssh", "telnet"]


class AAPlugin(AAStateSteps, PluginBase):
    def __init__(self, configuration, defaults=None, logger=None):
        super().__init__(configuration, defaults=defaults, logger=logger)
        self.connection = ConnectionInfo()

    # --- the hooks Gatehouse calls (every argument arrives by keyword; any subset is fine) ---

    def authenticate(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        state = self._progress("authenticate")
        if "accepted" not in state:
            verdict = self._run(self._authentication_steps(), state)
            if verdict is None:
                return self._finish(AAResponse(verdict="NONE"))
            if verdict.get("verdict") != "ACCEPT":
                return self._finish(verdict)
            state["accepted"] = {k: v for k, v in verdict.items() if k not in ("cookie", "session_cookie")}
            state["accepted_by"] = state.pop("last_step", None)
        verdict = self._run(self._post_successful_authentication_steps(), state)
        if verdict is not None:
            if verdict.get("verdict") != "NEEDINFO":
                raise PluginSDKRuntimeError("A post-authentication step may only return None or NEEDINFO",
                                            {"verdict": verdict.get("verdict")})
            return self._finish(verdict)
        accepted = AAResponse(state["accepted"])
        self._add_gateway_user(accepted)
        return self._finish(accepted)

    def authorize(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        verdict = self._run(self._authorization_steps(), self._progress("authorize"))
        return self._finish(verdict if verdict is not None else AAResponse.accept())

    def session_ended(self, cookie=None, session_cookie=None, **kwargs):
        self._begin(cookie, session_cookie, kwargs)
        for step in self._session_ended_steps():
            step()
        return None

    # --- the pipelines (step names are API: plugins find and insert steps by __name__) ---

    def _authentication_steps(self):
        return [self._check_username, self._check_user_list_whitelist, self._check_ldap_group_whitelist,
                self._check_authentication_cache, self._map_username_explicit, self._map_username_ldap,
                self._transform_username, self._ask_mfa_password, self._log_authenticate_calculated_mfa_identity,
                self.do_authenticate]

    def _post_successful_authentication_steps(self):
        return [self._refresh_authentication_cache, self._ask_questions]

    def _authorization_steps(self):
        return [self._log_authorize_calculated_mfa_identity, self._check_and_increase_client_connection_count,
                self.do_authorize]

    def _session_ended_steps(self):
        return [self._decrease_client_connection_count, self.do_session_ended]

    # --- what plugins override ---

    def do_authenticate(self):
        return AAResponse.accept()

    def do_authorize(self):
        return AAResponse.accept()

    def do_session_ended(self):
        return None

    # --- identities ---

    @cookie_property
    def username(self):
        return self._extract_username()

    def _extract_username(self):
        # Gatehouse decision on `gu`: after a gateway user Gatehouse already knows, before the server user.
        c = self.connection
        kv = c.key_value_pairs or {}
        return c.gateway_username or kv.get("gu") or c.server_username or kv.get("username")

    @cookie_property
    def mfa_identity(self):
        return self.username

    @property
    def mfa_password(self):
        return self._extract_mfa_password()

    def _extract_mfa_password(self):
        otp = (self.connection.key_value_pairs or {}).get("otp")
        if otp is None and not self._interactive():
            return ""  # no way to ask: push
        return otp

    def _interactive(self):
        protocols = self.plugin_configuration.getlist("auth", "interactive_protocols", default=INTERACTIVE_PROTOCOLS)
        return str(self.connection.protocol or "").lower() in [p.lower() for p in protocols]

    # --- steps ---

    def _check_username(self):
        if not self.username:
            self.logger.error("No user name to authenticate")
            return AAResponse.deny(reason="no username", deny_reason=DenyReasons().authentication_failure)
        return None

    def _map_username_explicit(self):
        section = "usermapping source=explicit"
        if not self.plugin_configuration.has_section(section):
            return None
        mapped = self.plugin_configuration.get(section, self.username.lower())
        if mapped:
            self.cookie["mfa_identity"] = mapped
            self._progress("authenticate")["mapped"] = "explicit"
        return None

    def _transform_username(self):
        domain = self.plugin_configuration.get("username_transform", "append_domain")
        if domain:
            self.cookie["mfa_identity"] = "%s@%s" % (self.mfa_identity, domain)
        return None

    def _ask_mfa_password(self):
        if self.mfa_password is not None or not self._interactive():
            return None
        cfg = self.plugin_configuration
        prompt = _spaced(cfg.get("auth", "prompt", default=DEFAULT_PROMPT))
        return AAResponse.need_info(prompt, "otp", cfg.getboolean("auth", "disable_echo", default=False))

    def _log_authenticate_calculated_mfa_identity(self):
        self.logger.info("Authenticating %s as MFA identity %s", self.username, self.mfa_identity)
        return None

    def _log_authorize_calculated_mfa_identity(self):
        self.logger.info("Authorizing %s (MFA identity %s)", self.username, self.mfa_identity)
        return None

    def _ask_questions(self):
        cfg = self.plugin_configuration
        numbered = sorted((int(m.group(1)), s) for s in cfg.sections() if (m := re.fullmatch(r"question_(\d+)", s)))
        if not numbered:
            return None
        questions = dict(self.session_cookie.get("questions") or {})
        self.session_cookie["questions"] = questions
        kv = self.connection.key_value_pairs or {}
        for _, section in numbered:
            key = cfg.get(section, "key", required=True)
            if key in kv:
                questions[key] = kv[key]
                continue
            # Per-question echo is off unless the configuration turns it on.
            return AAResponse.need_info(_spaced(cfg.get(section, "prompt", required=True)), key,
                                        cfg.getboolean(section, "disable_echo", default=True))
        return None

    def _add_gateway_user(self, verdict):
        if verdict.get("verdict") != "ACCEPT" or verdict.get("gateway_user"):
            return
        if self.username and self.username != self.connection.gateway_username:
            verdict.with_gateway_user(self.username, ())

    # --- machinery ---

    def _begin(self, cookie, session_cookie, kwargs):
        self.cookie = copy.deepcopy(dict(cookie or {}))
        self.session_cookie = copy.deepcopy(dict(session_cookie or {}))
        args = dict(kwargs)
        args["key_value_pairs"] = dict(args.get("key_value_pairs") or {})
        self.connection = ConnectionInfo.from_hook_arguments(args)

    def _progress(self, hook):
        private = self.cookie.setdefault(PRIVATE, {})
        return private.setdefault(hook, {"done": []})

    def _run(self, steps, state):
        """The first verdict a step returns (steps returning None are marked done and skipped next time)."""
        done = state.setdefault("done", [])
        for step in steps:
            name = getattr(step, "__name__", repr(step))
            if name in done:
                continue
            verdict = step()
            if verdict is None:
                done.append(name)
                continue
            verdict = verdict if isinstance(verdict, AAResponse) else AAResponse(verdict)
            self._absorb_cookies(verdict)
            state["last_step"] = name
            return verdict
        return None

    def _absorb_cookies(self, verdict):
        # Cookies a step returned win over the attributes, and go on with every later verdict.
        if isinstance(verdict.get("cookie"), dict):
            self.cookie.update(verdict["cookie"])
        if isinstance(verdict.get("session_cookie"), dict):
            self.session_cookie.update(verdict["session_cookie"])

    def _finish(self, verdict):
        self._absorb_cookies(verdict)
        verdict["cookie"] = self.cookie
        verdict["session_cookie"] = self.session_cookie
        return verdict


def _spaced(prompt):
    # configparser strips the value; the answer should not stick to the prompt's colon.
    return prompt if prompt[-1:].isspace() else prompt + " "
