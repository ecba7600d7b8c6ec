# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""What SPS keeps in its own database and the SDK reaches through it, as Gatehouse hands it over.

Gatehouse puts the `sdk:` part of config.yaml, as JSON, into the environment variable GATEHOUSE_SDK_HOST of
every Python plugin process. Secrets in it are references: {"value": ...} (given inline in config.yaml),
{"file": path} or {"env": NAME}; they are read here, when a plugin asks for them, so that Gatehouse never
copies a secret anywhere else. Nothing here logs a secret.
"""
import json
import os

from .exceptions import PluginSDKRuntimeError

ENV = "GATEHOUSE_SDK_HOST"


def host_context():
    # Read on each use: the process serves one hook call, and tests change the environment between calls.
    text = os.environ.get(ENV)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise PluginSDKRuntimeError("Gatehouse SDK host context is not valid JSON", {"error": err})
    return value if isinstance(value, dict) else {}


def section(name):
    value = host_context().get(name)
    return value if isinstance(value, dict) else {}


def resolve_secret(ref):
    """The text of a secret reference; plain strings are taken as they are."""
    if ref is None or isinstance(ref, str):
        return ref
    if not isinstance(ref, dict):
        raise PluginSDKRuntimeError("a secret reference must be a string or one of value/file/env")
    if "value" in ref:
        return ref["value"]
    if "file" in ref:
        try:
            with open(ref["file"], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise PluginSDKRuntimeError("cannot read a secret file", {"file": ref["file"], "error": err.strerror})
        # A password file usually ends with a newline that is not part of the password; PEM keep theirs.
        return text if text.lstrip().startswith("-----BEGIN") else text.rstrip("\r\n")
    if "env" in ref:
        value = os.environ.get(ref["env"])
        if value is None:
            raise PluginSDKRuntimeError("a secret's environment variable is not set", {"variable": ref["env"]})
        return value
    raise PluginSDKRuntimeError("a secret reference must be one of value/file/env")
