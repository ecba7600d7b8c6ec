# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Verdicts as dicts (so that they compare, index and JSON-encode as plain results do), with builders.

Gatehouse's host contract shows the user-visible deny reason from the `reason` key; the text kept for the
administrator goes to `additional_metadata` as JSON ({"reason": ...}).
"""
import json


class DenyReasons:
    @property
    def authentication_failure(self):
        return "Authentication failed"

    @property
    def communication_error(self):
        return "Communication error with the authentication service"

    @property
    def backend_service_error(self):
        return "Authentication service unreachable"


class AAResponse(dict):
    @classmethod
    def accept(cls, reason=None):
        return cls(verdict="ACCEPT")._with_metadata_reason(reason)

    @classmethod
    def deny(cls, reason=None, deny_reason=None):
        response = cls(verdict="DENY")._with_metadata_reason(reason)
        return response.with_reason(deny_reason) if deny_reason else response

    @classmethod
    def need_info(cls, question, key, disable_echo=False):
        return cls(verdict="NEEDINFO", question=(key, question, bool(disable_echo)))

    def _with_metadata_reason(self, reason):
        if reason is not None:
            self["additional_metadata"] = json.dumps({"reason": str(reason)})
        return self

    def with_cookie(self, cookie):
        self["cookie"] = cookie
        return self

    def with_session_cookie(self, session_cookie):
        self["session_cookie"] = session_cookie
        return self

    def with_gateway_user(self, gateway_user, gateway_groups=()):
        self["gateway_user"] = gateway_user
        self["gateway_groups"] = tuple(gateway_groups or ())
        return self

    def with_additional_metadata(self, metadata):
        self["additional_metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
        return self

    def with_reason(self, reason):
        self["reason"] = reason
        return self
