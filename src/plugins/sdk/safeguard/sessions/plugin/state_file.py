# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""A JSON document in a file, changed under an exclusive lock: state shared by the one-call plugin processes.

Every hook call is a separate process, and calls of one plugin run in parallel, so read-modify-write goes
through flock on a side file. The document is replaced atomically, so a process killed mid-write (plugin
timeout) leaves the previous version.
"""
import contextlib
import fcntl
import json
import os
import tempfile
import time

LOCK_DEADLINE_S = 10.0


@contextlib.contextmanager
def locked_json(path):
    """Yields the document (a dict) for changing in place; writes it back when the block ends normally."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".lock", "a") as lock:
        _lock(lock)
        try:
            data = _read(path)
            yield data
            _write(path, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lock(handle):
    # Every wait has a deadline: a stuck holder (a plugin process stopped mid-call) must not hang this one.
    deadline = time.monotonic() + LOCK_DEADLINE_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError("state file %s stayed locked for %ss" % (handle.name, LOCK_DEADLINE_S))
            time.sleep(0.01)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # a damaged file is started afresh rather than locking everybody out


def _write(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def state_directory():
    """The plugin's persistent state directory (SCB_PLUGIN_STATE_DIRECTORY), or a per-user temp one."""
    return os.environ.get("SCB_PLUGIN_STATE_DIRECTORY") or os.path.join(tempfile.gettempdir(), "gatehouse-sdk-state-%d" % os.getuid())
