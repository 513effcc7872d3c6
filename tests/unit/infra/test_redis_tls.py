"""`rediss://`: the broker (kombu) gets the TLS options redis-py reads from the same URL, with redis-py's
default of a verified certificate (kombu alone would accept any)."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from worker.infra.redis_tls import tls_options
from worker.settings import SettingsError

ROOT = Path(__file__).resolve().parents[3]


def test_the_certificate_is_required_unless_the_url_says_otherwise() -> None:
    assert tls_options("rediss://h:6380/0") == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert tls_options("rediss://h/0?ssl_cert_reqs=none") == {"ssl_cert_reqs": ssl.CERT_NONE}
    assert tls_options("rediss://h/0?ssl_ca_certs=/etc/ca.pem&ssl_certfile=/c&ssl_keyfile=/k") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/ca.pem",
        "ssl_certfile": "/c",
        "ssl_keyfile": "/k",
    }


def test_an_unknown_requirement_is_one_line_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^BROKER_URL: ssl_cert_reqs is one of required, optional, none"):
        tls_options("rediss://h/0?ssl_cert_reqs=maybe")


def test_celery_uses_the_put_back_transport_and_a_verified_certificate_over_tls() -> None:
    script = (
        "import celeryconfig as c, json; "
        "print(json.dumps([c.broker_transport, int(c.broker_use_ssl['ssl_cert_reqs'])]))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": "rediss://h:6380/0"}
    answer = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f'["worker.runtime.broker_transport:Transport", {int(ssl.CERT_REQUIRED)}]'
