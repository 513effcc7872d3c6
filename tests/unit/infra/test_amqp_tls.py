"""`amqps://`: Celery's client (py-amqp) gets the URL without the TLS parameters the receiver's publisher
(aiormq) reads from it, and the same options as `broker_use_ssl`, with a verified certificate and name."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from worker.infra.amqp_tls import amqps_for_celery, system_ca_bundle
from worker.settings import SettingsError


def test_the_urls_ca_and_client_certificate_become_py_amqps_options() -> None:
    url, options = amqps_for_celery(
        "amqps://u:p@mq.example:5671/v?cafile=/ca.pem&certfile=/c.pem&keyfile=/k.pem"
    )
    assert url == "amqps://u:p@mq.example:5671/v"
    assert options == {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": "mq.example",
        "ca_certs": "/ca.pem",
        "certfile": "/c.pem",
        "keyfile": "/k.pem",
    }


def test_without_a_ca_the_systems_bundle_is_trusted() -> None:
    """As aiormq's default context does (py-amqp alone would trust no CA, and reach no server)."""
    _, options = amqps_for_celery("amqps://u:p@mq.example/v")
    assert options.get("ca_certs") == system_ca_bundle()
    assert options["cert_reqs"] == ssl.CERT_REQUIRED and options["server_hostname"] == "mq.example"


def test_an_unknown_parameter_is_one_line_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^BROKER_URL: unknown amqps:// parameter\(s\) no_verify_ssl"):
        amqps_for_celery("amqps://u:p@mq.example/v?no_verify_ssl=1")


def test_the_worker_says_it_in_one_line_at_start() -> None:
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "BROKER_URL": "amqps://u:p@127.0.0.1:1/v?verify=no",
    }
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel=WARNING"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        "error: BROKER_URL: unknown amqps:// parameter(s) verify (known: cafile, certfile, keyfile)"
    ]
