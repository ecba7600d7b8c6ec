# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Base of every SDK plugin: configuration, logging, HTTPS proxy settings and the cookie decorators."""
import os

from . import logging as sdk_logging
from .box_configuration import BoxConfiguration
from .host_context import resolve_secret
from .plugin_configuration import PluginConfiguration

_MISSING = object()


class lazy_property:
    """Computed on first use, then kept on the instance."""

    def __init__(self, factory):
        self.factory = factory
        self.__name__ = factory.__name__
        self.__doc__ = factory.__doc__

    def __get__(self, instance, owner):
        if instance is None:
            return self
        value = self.factory(instance)
        instance.__dict__[self.__name__] = value
        return value


class _StoredProperty:
    """Kept in a dict of the instance (the cookie or session cookie) under a key; computed only when absent."""

    store = "cookie"

    def __init__(self, factory, key=None):
        self.factory = factory
        self.key = key or factory.__name__
        self.__name__ = factory.__name__
        self.__doc__ = factory.__doc__

    def __get__(self, instance, owner):
        if instance is None:
            return self
        store = getattr(instance, self.store)
        value = store.get(self.key, _MISSING)
        if value is _MISSING:
            value = self.factory(instance)
            store[self.key] = value
        return value

    def __set__(self, instance, value):
        getattr(instance, self.store)[self.key] = value


class cookie_property(_StoredProperty):
    store = "cookie"


class session_cookie_property(_StoredProperty):
    store = "session_cookie"


def named_cookie_property(key):
    def wrap(factory):
        return cookie_property(factory, key=key)

    return wrap


class PluginBase:
    def __init__(self, configuration, defaults=None, logger=None):
        self.plugin_configuration = PluginConfiguration(configuration, defaults)
        sdk_logging.configure(self.plugin_configuration)
        self.logger = logger or sdk_logging.get_logger(self.__class__.__name__)
        self.cookie = {}
        self.session_cookie = {}
        self.box_configuration = BoxConfiguration.open()
        self.https_proxy_enabled = False
        self.https_proxy_server = None
        self.https_proxy_port = None
        self.https_proxy_username = None
        self.https_proxy_password = None
        self.set_https_proxy()

    @property
    def proxy_settings(self):
        if not self.https_proxy_enabled:
            return {}
        return {"server": self.https_proxy_server, "port": self.https_proxy_port,
                "username": self.https_proxy_username, "password": self.https_proxy_password}

    def set_https_proxy(self):
        """From `[https-proxy]` (or `[https_proxy]`) of the configuration, else from config.yaml's
        `sdk.https_proxy`; sets https_proxy/HTTPS_PROXY for the libraries that read them."""
        cfg = self.plugin_configuration
        name = next((s for s in ("https-proxy", "https_proxy") if cfg.has_section(s)), None)
        if name is not None:
            server = cfg.get(name, "server")
            enabled = cfg.getboolean(name, "enabled", default=bool(server))
            settings = {"server": server, "port": cfg.getint(name, "port", default=3128),
                        "username": cfg.get(name, "username"), "password": cfg.get(name, "password")}
        else:
            system = self.box_configuration.get_https_proxy()
            settings = {"server": system.get("server"), "port": int(system.get("port") or 3128),
                        "username": system.get("username"), "password": resolve_secret(system.get("password"))}
            enabled = bool(settings["server"])
        if not enabled or not settings["server"]:
            return
        self.https_proxy_enabled = True
        self.https_proxy_server = settings["server"]
        self.https_proxy_port = settings["port"]
        self.https_proxy_username = settings["username"]
        self.https_proxy_password = settings["password"]
        from urllib.parse import quote

        auth = ""
        if settings["username"]:
            auth = quote(settings["username"], safe="") + ":" + quote(settings["password"] or "", safe="") + "@"
        url = "http://%s%s:%s" % (auth, settings["server"], settings["port"])
        os.environ["https_proxy"] = url
        os.environ["HTTPS_PROXY"] = url
