"""A Redis over TLS (`rediss://`), as every client of this service reads it.

redis-py (the store's clients, the receiver, RedBeat) reads the TLS options from the URL's query and
verifies the server's certificate by default. kombu (Celery's broker) takes them as `broker_use_ssl`, and
with none given it accepts any certificate, warning once. So the broker gets them from the same URL, with
redis-py's default: `ssl_cert_reqs=required` unless the URL says `optional` or `none`.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

from worker.settings import SettingsError

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def tls_options(url: str, setting: str = "BROKER_URL") -> dict[str, Any]:
    """kombu's `ssl` options for a `rediss://` URL: its certificate requirement (by default `required`)
    and the CA, certificate and key files it names."""
    query = parse_qs(urlsplit(url).query)
    requirement = (query.get("ssl_cert_reqs") or ["required"])[-1].lower()
    if requirement not in _CERT_REQS:
        raise SettingsError(f"{setting}: ssl_cert_reqs is one of {', '.join(_CERT_REQS)}")
    options: dict[str, Any] = {"ssl_cert_reqs": _CERT_REQS[requirement]}
    for name in _FILES:
        if query.get(name):
            options[name] = query[name][-1]
    return options
