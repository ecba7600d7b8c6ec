# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""The plugin's configuration text (INI), with typed getters, design-time defaults and `$` references."""
import configparser
import textwrap

from .exceptions import PluginSDKValueError
from .key_type import determine_key_type
from .plugin_configuration_exceptions import RequiredConfigurationSettingNotFound

_TRUE = ("yes", "true", "on", "1")
_FALSE = ("no", "false", "off", "0")
# No section is special: "[DEFAULT]" in a configuration is an ordinary section, as every other.
_NO_DEFAULT_SECTION = "\x00gatehouse-no-default-section"


def _parse(text):
    parser = configparser.ConfigParser(
        interpolation=None, delimiters=("=", ":"), comment_prefixes=("#", ";"), strict=False,
        default_section=_NO_DEFAULT_SECTION,
    )
    # Configuration texts are often indented as a whole (YAML blocks, tests); only relative indentation
    # marks continuation lines.
    parser.read_string(textwrap.dedent(text or ""))
    return parser


class PluginConfiguration:
    def __init__(self, configuration, defaults=None):
        self._parser = _parse(configuration)
        # Defaults merge per option underneath the configuration (not per section).
        self._defaults = _parse(defaults) if defaults else None

    def _raw(self, section, option):
        option = option.lower()
        for parser in (self._parser, self._defaults):
            if parser is not None and parser.has_option(section, option):
                value = parser.get(section, option)
                if value is not None and value.strip() != "":
                    return value.strip()
        return _host_default(section, option)

    def get(self, section, option, default=None, required=False):
        """The option's text; `$` reads the local credential store, a leading `$$` stands for a literal `$`.

        An option that is missing or empty counts as not set: `default`, or an error when `required`."""
        value = self._raw(section, option)
        if value is None:
            if required:
                raise RequiredConfigurationSettingNotFound(
                    "Required configuration setting not found", {"section": section, "option": option})
            return default
        if value == "$":
            return self._from_credential_store(section, option)
        if value.startswith("$$"):
            return value[1:]
        return value

    def _from_credential_store(self, section, option):
        from .credential_store import CredentialStore

        store = CredentialStore.from_config(self)
        passwords = store.get_passwords(host=section, user=option)
        if not passwords:
            raise RequiredConfigurationSettingNotFound(
                "No password in the local credential store for a $ setting",
                {"section": section, "option": option, "credential_store": store.name})
        return passwords[0]

    def getboolean(self, section, option, default=None, required=False):
        value = self.get(section, option, default=None, required=required)
        if value is None:
            return default
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise PluginSDKValueError("Boolean option is neither yes nor no",
                                  {"section": section, "option": option, "value": value})

    def _number(self, kind, section, option, default, required):
        value = self.get(section, option, default=None, required=required)
        if value is None:
            return default
        try:
            return kind(value)
        except ValueError:
            raise PluginSDKValueError("Option is not a number" if kind is float else "Option is not an integer",
                                      {"section": section, "option": option, "value": value})

    def getint(self, section, option, default=None, required=False):
        return self._number(int, section, option, default, required)

    def getfloat(self, section, option, default=None, required=False):
        return self._number(float, section, option, default, required)

    def getienum(self, section, option, value_set, default=None, required=False):
        value = self.get(section, option, default=None, required=required)
        if value is None:
            return default
        allowed = [str(v).lower() for v in value_set]
        if value.lower() not in allowed:
            raise PluginSDKValueError("Option has a value outside its allowed set",
                                      {"section": section, "option": option, "value": value,
                                       "allowed": ",".join(allowed)})
        return value.lower()

    def getlist(self, section, option, default=None, required=False):
        value = self.get(section, option, default=None, required=required)
        if value is None:
            return default
        return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]

    def get_options(self, section):
        names = []
        for parser in (self._parser, self._defaults):
            if parser is not None and parser.has_section(section):
                names.extend(o for o in parser.options(section) if o not in names)
        return names

    def has_section(self, section):
        return any(p is not None and p.has_section(section) for p in (self._parser, self._defaults))

    def sections(self):
        names = []
        for parser in (self._parser, self._defaults):
            if parser is not None:
                names.extend(s for s in parser.sections() if s not in names)
        return names

    def get_key(self, section, option, required=False):
        """{"type", "key"} for a PEM private key given inline or as `$` (the first key in the store)."""
        value, final = self._inline_or_stored(section, option, required, lambda store: store.get_keys(host=section, user=option))
        if final:
            return value
        key = _pem(value)
        return {"type": determine_key_type(key), "key": key}

    def get_certificate(self, section, option, required=False):
        """{"cert", "key", "type"}: a PEM certificate with its private key, inline (both in one value) or `$`."""
        value, final = self._inline_or_stored(section, option, required,
                                              lambda store: store.get_certificates(host=section, user=option))
        if final:
            return value
        return _split_certificate(_pem(value))

    def _inline_or_stored(self, section, option, required, from_store):
        """(value, final): `$` gives the first item `from_store` finds in the credential store (final), a missing
        value None (final) or RequiredConfigurationSettingNotFound, anything else the inline text to parse."""
        value = self._raw(section, option)
        if value == "$":
            from .credential_store import CredentialStore

            found = from_store(CredentialStore.from_config(self))
            if found:
                return found[0], True
            value = None
        if value is None:
            if required:
                raise RequiredConfigurationSettingNotFound(
                    "Required configuration setting not found", {"section": section, "option": option})
            return None, True
        return value, False

    def get_ca_certificate(self, section, option, required=False):
        """PEM text of CA certificates: inline, or `$[name]` for a trusted CA list of config.yaml."""
        value = self._raw(section, option)
        if value is not None and value.startswith("$[") and value.endswith("]"):
            from .host_context import section as host_section

            name = value[2:-1]
            cas = host_section("trusted_ca_lists").get(name)
            if cas is None:
                raise RequiredConfigurationSettingNotFound("Trusted CA list not found", {"name": name})
            from .host_context import resolve_secret

            return "\n".join(resolve_secret(c).strip() for c in cas) + "\n"
        if value is None:
            if required:
                raise RequiredConfigurationSettingNotFound(
                    "Required configuration setting not found", {"section": section, "option": option})
            return None
        return _pem(value)


def _host_default(section, option):
    # config.yaml's sdk.radius_dictionary stands in for SPS's RADIUS dictionary: RADIUS plugins read it as
    # [radius] dictionary_path unless their configuration names one.
    if (section, option) == ("radius", "dictionary_path"):
        from .host_context import host_context

        return host_context().get("radius_dictionary")
    return None


def _pem(value):
    # configparser keeps continuation lines without their indentation; PEM needs them one per line.
    return "\n".join(line.strip() for line in value.strip().splitlines()) + "\n"


def _split_certificate(pem):
    cert_lines, key_lines, target = [], [], None
    for line in pem.splitlines():
        if line.startswith("-----BEGIN CERTIFICATE"):
            target = cert_lines
        elif line.startswith("-----BEGIN") and "PRIVATE KEY" in line:
            target = key_lines
        if target is not None:
            target.append(line)
        if line.startswith("-----END"):
            target = None
    key = "\n".join(key_lines) + "\n" if key_lines else None
    return {"cert": "\n".join(cert_lines) + "\n" if cert_lines else None, "key": key,
            "type": determine_key_type(key) if key else None}
