# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""Calls an HTTP endpoint through a requests session and digs a value out of its JSON answer."""
import json
from urllib.parse import urljoin

from .exceptions import PluginSDKRuntimeError


class EndpointException(PluginSDKRuntimeError):
    pass


class EndpointExtractor:
    def __init__(self, base_url=None):
        self.base_url = base_url

    def invoke_http_method(self, session, url, method, headers=None, data=None, params=None):
        """The response object, whatever its status; a connection failure raises EndpointException."""
        import requests

        full = urljoin(self.base_url, url) if self.base_url else url
        try:
            if method.lower() == "post":
                return session.post(full, headers=headers, data=json.dumps(data) if data else None, params=params)
            if method.lower() == "get":
                return session.get(full, headers=headers, params=params)
        except requests.ConnectionError as err:
            raise EndpointException("Connection to endpoint failed", {"url": full, "error": err})
        raise EndpointException("Unsupported HTTP method", {"method": method})

    def extract_data_from_endpoint(self, session, endpoint_url, data_path=None, method="get", headers=None,
                                   data=None, params=None):
        response = self.invoke_http_method(session, endpoint_url, method, headers=headers, data=data, params=params)
        if not response.ok:
            raise EndpointException("Endpoint responded with NOK",
                                    {"status_code": response.status_code, "status_text": _reason(response)})
        try:
            value = json.loads(response.text)
        except ValueError:
            raise EndpointException("Endpoint (%s) response is not JSON" % endpoint_url)
        if data_path is None:
            return value
        for part in data_path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise EndpointException("Endpoint (%s) response did not contain the information" % endpoint_url,
                                        {"data_path": data_path})
        return value


def _reason(response):
    reason = getattr(response, "reason", None)
    if reason:
        return reason
    try:
        from http import HTTPStatus

        return HTTPStatus(int(response.status_code)).phrase
    except ValueError:
        return ""
