# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
from .exceptions import PluginSDKRuntimeError


class LocalCredentialStoreNotFound(PluginSDKRuntimeError):
    pass
