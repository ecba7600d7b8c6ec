# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Base of MFA service clients: OTP or push, and what each failure means for the verdict."""
from .exceptions import PluginSDKRuntimeError
from .logging import get_logger
from .plugin_response import AAResponse, DenyReasons


class MFAAuthenticationFailure(PluginSDKRuntimeError):
    pass


class MFACommunicationError(PluginSDKRuntimeError):
    pass


class MFAServiceUnreachable(PluginSDKRuntimeError):
    pass


class MFAClient:
    def __init__(self, branded_name, ignore_connection_error=False):
        self.branded_name = branded_name
        self.ignore_connection_error = ignore_connection_error
        self.logger = get_logger(self.__class__.__name__)

    def otp_authenticate(self, mfa_identity, otp):
        raise NotImplementedError("otp_authenticate")

    def push_authenticate(self, mfa_identity):
        raise NotImplementedError("push_authenticate")

    def execute_authenticate(self, username, mfa_identity, mfa_password=None):
        """A verdict: a non-empty password is checked as an OTP, otherwise a push notification is sent."""
        reasons = DenyReasons()
        try:
            if mfa_password:
                self.logger.info("Checking the one-time password of %s with %s", mfa_identity, self.branded_name)
                outcome = self.otp_authenticate(mfa_identity, mfa_password)
            else:
                self.logger.info("Sending a push notification to %s with %s", mfa_identity, self.branded_name)
                outcome = self.push_authenticate(mfa_identity)
        except MFAAuthenticationFailure as err:
            self.logger.info("Authentication of %s failed: %s", mfa_identity, err)
            return AAResponse.deny(reason=str(err), deny_reason=reasons.authentication_failure)
        except MFACommunicationError as err:
            self.logger.error("Communication with %s failed: %s", self.branded_name, err)
            return AAResponse.deny(reason=str(err), deny_reason=reasons.communication_error)
        except MFAServiceUnreachable as err:
            if self.ignore_connection_error:
                self.logger.warning("%s unreachable, letting %s in as configured: %s", self.branded_name, username, err)
                return AAResponse.accept(reason="%s unreachable; connection error ignored" % self.branded_name)
            self.logger.error("%s unreachable: %s", self.branded_name, err)
            return AAResponse.deny(reason=str(err), deny_reason=reasons.backend_service_error)
        if isinstance(outcome, dict):
            return outcome if isinstance(outcome, AAResponse) else AAResponse(outcome)
        if outcome:
            return AAResponse.accept()
        return AAResponse.deny(reason="%s rejected the authentication" % self.branded_name,
                               deny_reason=reasons.authentication_failure)
