# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""A small key-value cache with expiry shared by a plugin's calls (Redis on SPS; a locked JSON file here, in
the plugin's state directory)."""
import os
import time

from .state_file import locked_json, state_directory


class MemoryCache:
    def __init__(self, prefix="", ttl=0, path=None):
        self.prefix = prefix
        self.ttl = ttl
        self._path = path or os.path.join(state_directory(), "gatehouse-memory-cache.json")

    @classmethod
    def from_config(cls, plugin_configuration, section="memory-cache", prefix="", ttl=0):
        return cls(plugin_configuration.get(section, "prefix", default=prefix),
                   plugin_configuration.getint(section, "ttl", default=ttl))

    def set(self, key, value, ttl=None):
        ttl = self.ttl if ttl is None else ttl
        expires = time.time() + ttl if ttl else None
        with locked_json(self._path) as data:
            _expire(data)
            data[self.prefix + str(key)] = {"value": value, "expires": expires}

    def get(self, key):
        with locked_json(self._path) as data:
            _expire(data)
            entry = data.get(self.prefix + str(key))
        return None if entry is None else entry["value"]


def _expire(data):
    now = time.time()
    for k in [k for k, v in data.items() if v.get("expires") is not None and v["expires"] <= now]:
        del data[k]
