# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Exception types of the SDK surface: a message plus named variables that str() shows as key='value'."""


class PluginSDKExceptionFormatter(Exception):
    """Mixin base: keeps a message and a dict of variables; str() is "message; k1='v1' k2='v2'"."""

    def __init__(self, message="", variables=None):
        # pingid hands over an exception object as the message; keep its text.
        self.message = str(message) if not isinstance(message, str) else message
        self.variables = dict(variables or {})
        super().__init__(self.message)

    def append_variables(self, variables):
        self.variables.update(variables or {})
        return self

    def __str__(self):
        if not self.variables:
            return self.message
        pairs = " ".join("%s=%r" % (k, str(v)) for k, v in sorted(self.variables.items()))
        return "%s; %s" % (self.message, pairs)


class PluginSDKRuntimeError(PluginSDKExceptionFormatter, RuntimeError):
    pass


class PluginSDKRuntimeWarning(PluginSDKExceptionFormatter, RuntimeWarning):
    pass


class PluginSDKValueError(PluginSDKExceptionFormatter, ValueError):
    pass
