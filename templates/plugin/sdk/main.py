"""__NAME__: an AA plugin on the SPS Plugin SDK's AAPlugin.

The SDK asks for the one-time password itself (key "otp", the [auth] section of the configuration sets its
prompt) and hands it to do_authenticate as self.mfa_password. Configuration:
    [__NAME__]
    token = letmein
"""
from safeguard.sessions.plugin import AAPlugin, AAResponse


class Plugin(AAPlugin):
    def do_authenticate(self):
        expected = self.plugin_configuration.get("__NAME__", "token", default="letmein")
        if self.mfa_password == expected:
            return AAResponse.accept()
        return AAResponse.deny(deny_reason="Wrong one-time password.")

    def do_authorize(self):
        return AAResponse.accept()
