"""Runs one hook call of an SPS-style Python plugin for Gatehouse (one process per call).

Usage: python3 python-host.py ENTRY_POINT

Imports ENTRY_POINT (normally main.py) from its folder, reports the public methods of its Plugin class on
fd 3, then reads exactly one call from stdin: {"hook", "configuration", "args"}. It constructs
Plugin(configuration), calls the hook with keyword arguments filtered to the names the method declares (all
of them when it takes **kwargs; None for a declared name Gatehouse does not supply), and writes the result
as JSON on fd 3. What the plugin prints goes to stdout/stderr, which Gatehouse logs line by line.

Bounds set before the plugin is imported (issue 15):
- the process dies with Gatehouse (prctl PR_SET_PDEATHSIG), so a hung hook cannot outlive it;
- its address space is limited (RLIMIT_AS, from GATEHOUSE_PLUGIN_AS_BYTES): an allocation beyond it is a
  MemoryError, reported as PLUGIN_MEMORY_LIMIT;
- the answer channel is moved off fd 3 to a descriptor that is closed on exec and not inherited, so helpers the
  plugin starts cannot write to it; and every answer carries the call's nonce, which Gatehouse checks.
"""

import ctypes
import importlib.util
import inspect
import json
import os
import resource
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1


def die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the stdin EOF below still ends an idle runner
    expected = os.environ.get("GATEHOUSE_PID")
    if expected and str(os.getppid()) != expected:
        os._exit(1)  # Gatehouse died before the death signal was armed


def limit_memory():
    limit = int(os.environ.get("GATEHOUSE_PLUGIN_AS_BYTES") or 0)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def private_channel():
    # os.dup gives a non-inheritable descriptor (PEP 446); fd 3 itself was inherited and would be passed on.
    fd = os.dup(3)
    os.close(3)
    return os.fdopen(fd, "w", encoding="utf-8")


die_with_parent()
CONTROL = private_channel()
limit_memory()
for name in ("GATEHOUSE_PLUGIN_AS_BYTES", "GATEHOUSE_PID"):
    os.environ.pop(name, None)
# Gatehouse's own safeguard.sessions.plugin (the SPS Plugin SDK's API), which SPS likewise gives every plugin
# so that plugins do not bundle it.
SDK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk")


def send(message):
    CONTROL.write(json.dumps(message) + "\n")
    CONTROL.flush()


def load(entry):
    folder = os.path.dirname(os.path.abspath(entry))
    # The plugin's folder first (the libraries it bundles), then the SDK, then the system's packages.
    sys.path[0:0] = [folder, SDK]
    spec = importlib.util.spec_from_file_location("main", entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main"] = module
    spec.loader.exec_module(module)
    plugin = getattr(module, "Plugin", None)
    if not inspect.isclass(plugin):
        raise LookupError('the entry point defines no class named "Plugin"')
    return plugin


# Debian packages for modules SPS plugins commonly import (SPS ships the first five with every plugin).
DEBIAN_PACKAGES = {"requests": "python3-requests", "urllib3": "python3-urllib3", "yaml": "python3-yaml",
                   "OpenSSL": "python3-openssl", "ldap": "python3-ldap", "pyrad": "python3-pyrad",
                   "duo_client": "python3-duo-client", "jwt": "python3-jwt", "msal": "python3-msal",
                   "paramiko": "python3-paramiko", "requests_toolbelt": "python3-requests-toolbelt"}


def missing_module(err):
    top = (err.name or "?").split(".")[0]
    frames = [f for f in traceback.extract_tb(err.__traceback__) if "importlib" not in f.filename]
    where = " (imported at %s:%d)" % (frames[-1].filename, frames[-1].lineno) if frames else ""
    hint = "; install it (Debian: apt-get install %s) or bundle it in the plugin folder" % DEBIAN_PACKAGES[top] \
        if top in DEBIAN_PACKAGES else "; install it or bundle it in the plugin folder"
    return 'the plugin imports Python module "%s", which is not installed%s%s' % (err.name, where, hint)


def public_methods(cls):
    return sorted(name for name, value in inspect.getmembers(cls, callable) if not name.startswith("_"))


def construct(cls, configuration):
    # SPS calls Plugin(configuration); the documentation's own examples omit __init__ altogether.
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return cls(configuration)
    takes_one = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)
    return cls(configuration) if takes_one else cls()


def call_arguments(method, args):
    """(positional, keyword) arguments for a hook: the names it declares (None where Gatehouse has no value and
    the parameter has no default), and every argument when it takes **kwargs."""
    params = list(inspect.signature(method).parameters.values())
    positional = []
    kwargs = dict(args) if any(p.kind == p.VAR_KEYWORD for p in params) else {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in args:
            value = args[p.name]
        elif p.default is p.empty:
            value = None
        else:
            continue
        if p.kind == p.POSITIONAL_ONLY:
            positional.append(value)
        else:
            kwargs[p.name] = value
    return positional, kwargs


def main():
    try:
        cls = load(sys.argv[1])
    except ModuleNotFoundError as err:
        # Named plainly, with where it is imported: the usual fix is a package to install.
        traceback.print_exc()
        send({"type": "load_error", "message": missing_module(err)})
        return
    except BaseException:  # noqa: BLE001 - any import failure refuses the plugin with its traceback
        send({"type": "load_error", "message": "importing the entry point failed: " + traceback.format_exc()})
        return
    send({"type": "ready", "hooks": public_methods(cls)})

    line = sys.stdin.readline()
    if not line:
        return  # Gatehouse went away or discarded this warm runner
    call = json.loads(line)
    nonce = call.get("nonce")
    hook = call["hook"]

    def answer(message):
        message["nonce"] = nonce
        send(message)

    try:
        instance = construct(cls, call["configuration"])
        method = getattr(instance, hook, None)
        if not callable(method):
            answer({"type": "error", "code": "PLUGIN_HOOK_MISSING", "message": 'the Plugin class has no method "%s"' % hook})
            return
        positional, kwargs = call_arguments(method, call["args"])
        del line, call
        result = method(*positional, **kwargs)
    except MemoryError:
        answer({"type": "error", "code": "PLUGIN_MEMORY_LIMIT", "message": "the plugin ran out of its address space (plugin_pool.address_space_mb)"})
        return
    except BaseException:  # noqa: BLE001 - SystemExit included: a plugin must not end the call silently
        traceback.print_exc()
        answer({"type": "error", "code": "PLUGIN_THREW", "message": traceback.format_exc().strip().splitlines()[-1]})
        return
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as err:
        answer({"type": "error", "code": "PLUGIN_BAD_RESULT", "message": "%s returned a value that is not JSON-serialisable: %s" % (hook, err)})
        return
    answer({"type": "result", "json": text})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    sys.stderr.flush()
