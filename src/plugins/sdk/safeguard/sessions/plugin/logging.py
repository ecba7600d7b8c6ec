# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Logging for plugins: standard library loggers that propagate to the root logger, which writes to stderr.

Gatehouse logs each line a plugin writes to stderr with the session id (spec 3.4), so stderr is the sink.
"""
import logging as _logging
import sys

LEVELS = {"debug": _logging.DEBUG, "info": _logging.INFO, "warning": _logging.WARNING,
          "error": _logging.ERROR, "critical": _logging.CRITICAL}
_FORMAT = "%(levelname)s %(name)s: %(message)s"


def get_logger(name=None):
    # Loggers propagate to the root: plugins' own tests read records through pytest's caplog.
    _ensure_handler()
    return _logging.getLogger(name)


def configure(configuration, log_level=None):
    """Sets the root level from `log_level`, else from `[logging] log_level` of a PluginConfiguration."""
    _ensure_handler()
    level = log_level
    if level is None and configuration is not None:
        level = configuration.get("logging", "log_level", default="info")
    level = LEVELS.get(str(level or "info").strip().lower(), _logging.INFO)
    _logging.getLogger().setLevel(level)


def _ensure_handler():
    root = _logging.getLogger()
    if not any(getattr(h, "_gatehouse_sdk", False) for h in root.handlers):
        handler = _logging.StreamHandler(sys.stderr)
        handler.setFormatter(_logging.Formatter(_FORMAT))
        handler._gatehouse_sdk = True
        root.addHandler(handler)
        if root.level == _logging.WARNING:
            root.setLevel(_logging.INFO)
