"""RabbitMQ over TLS (`amqps://`), one URL for both of this service's AMQP clients.

The receiver's publisher (aiormq) reads the TLS options from the URL's query — `cafile` (a private CA),
`certfile` and `keyfile` (a client certificate) — and checks the server's certificate and name against the
system's CAs by default. Celery's client (py-amqp, through kombu) refuses those parameters (a TypeError at
start) and, given only `amqps://`, checks against no CA at all, so it could reach no server. So Celery gets
the URL without them and the same options as `broker_use_ssl`: the URL's CA, else the system's bundle.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from worker.settings import SettingsError

_FILES = {"cafile": "ca_certs", "certfile": "certfile", "keyfile": "keyfile"}  # aiormq's -> py-amqp's


def system_ca_bundle() -> str | None:
    """The CA file OpenSSL uses by default on this system (what aiormq's default context trusts)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def amqps_for_celery(url: str, setting: str = "BROKER_URL") -> tuple[str, dict[str, Any]]:
    """(the URL as kombu reads it, without the TLS parameters; `broker_use_ssl` for py-amqp)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - set(_FILES)
    if unknown:
        raise SettingsError(
            f"{setting}: unknown amqps:// parameter(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(_FILES)})"
        )
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": parts.hostname}
    for name, option in _FILES.items():
        if query.get(name):
            options[option] = query[name][-1]
    if "ca_certs" not in options and (bundle := system_ca_bundle()) is not None:
        options["ca_certs"] = bundle
    return parts._replace(query="").geturl(), options
