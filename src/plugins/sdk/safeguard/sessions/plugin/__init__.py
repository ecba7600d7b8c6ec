# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Gatehouse's implementation of the public API of the SPS Python Plugin SDK (safeguard.sessions.plugin).

Written from the SDK's published documentation and the behaviour One Identity's MIT-licensed plugins rely on;
it contains no code of the SDK itself. It reports itself as an SDK 1.9 release: plugins written for SDK 1.1
to 1.9 (`~=1.1` .. `~=1.9`) run on it.
"""
from . import logging
from .aa_plugin import AAPlugin
from .credential_store import CredentialStore
from .credentialstore_plugin import CredentialStorePlugin
from .exceptions import PluginSDKRuntimeError, PluginSDKRuntimeWarning, PluginSDKValueError
from .host_resolver import HostResolver
from .ldap_server import LDAPServer
from .plugin_base import PluginBase
from .plugin_configuration import PluginConfiguration
from .plugin_response import AAResponse, DenyReasons
from .user_list import UserList

__version__ = "1.9.0"
VERSION = __version__

__all__ = ["AAPlugin", "AAResponse", "DenyReasons", "PluginConfiguration", "CredentialStore", "LDAPServer",
           "UserList", "HostResolver", "CredentialStorePlugin", "PluginBase", "PluginSDKRuntimeError",
           "PluginSDKRuntimeWarning", "PluginSDKValueError", "logging"]
