"""A `sentinel://` store or broker URL: one documented form (every sentinel, the master's name, database and
password on the first), read the same way by the store's clients, Celery's broker and RedBeat; anything
else is one clear line at start-up, which never shows the password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.infra.redis_client import check_sentinel_settings, require_redis_url
from worker.infra.redis_sentinel import parse_sentinel_url
from worker.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[3]
URL = "sentinel://:s3cret@h1:26380/4?master_name=mymaster;sentinel://h2;sentinel://h3:26381"


class TestTheDocumentedForm:
    def test_every_sentinel_the_master_the_database_and_the_password(self) -> None:
        """Each sentinel with its port (26379 when left out), and what the first one carries."""
        address = parse_sentinel_url(URL)
        assert address.sentinels == (("h1", 26380), ("h2", 26379), ("h3", 26381))
        assert address.master == "mymaster"
        assert address.redis_options() == {"db": 4, "password": "s3cret"}

    def test_kombu_reads_it_without_the_master_name(self) -> None:
        """kombu takes the master's name as a transport option and refuses unknown URL parameters; it
        reads the database and password from the URL of whichever sentinel it is on: each has them."""
        assert parse_sentinel_url(URL).kombu_url == (
            "sentinel://:s3cret@h1:26380/4;sentinel://:s3cret@h2:26379/4;sentinel://:s3cret@h3:26381/4"
        )

    def test_celery_gets_kombus_form_and_the_master_as_a_transport_option(self) -> None:
        """celeryconfig, loaded with BROKER_URL and STORE_URL on Sentinel: the broker, its transport (with
        the put-back of worker/runtime/broker_transport.py) and RedBeat's lock all on the Sentinel set."""
        script = (
            "import celeryconfig as c, json; print(json.dumps([c.broker_url, c.broker_transport, "
            "c.broker_transport_options['master_name'], c.redbeat_redis_url, "
            "c.redbeat_redis_options['service_name'], c.redbeat_redis_options['sentinels'], "
            "c.redbeat_redis_options['db']]))"
        )
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": URL}
        answer = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == (
            '["sentinel://:s3cret@h1:26380/4;sentinel://:s3cret@h2:26379/4;sentinel://:s3cret@h3:26381/4", '
            '"worker.runtime.broker_transport:SentinelTransport", "mymaster", "redis-sentinel://", '
            '"mymaster", [["h1", 26380], ["h2", 26379], ["h3", 26381]], 4]'
        )


class TestSentinelsWithAPasswordOfTheirOwn:
    LOCKED = "sentinel://:s3cret@h1/0?master_name=m&sentinel_password=pa%3Bss%20w%22rd;sentinel://h2"

    def test_it_goes_to_the_sentinels_only(self) -> None:
        """Percent-decoded; the sentinels' clients get it, the master's options and kombu's URL do not."""
        address = parse_sentinel_url(self.LOCKED)
        provider = address.sentinel_kwargs(5.0)["credential_provider"]
        assert provider.get_credentials() == ('pa;ss w"rd',)
        assert address.redis_options() == {"db": 0, "password": "s3cret"}
        assert address.kombu_url == "sentinel://:s3cret@h1:26379/0;sentinel://:s3cret@h2:26379/0"

    def test_no_repr_shows_it(self) -> None:
        """redis-py quotes its sentinel clients' arguments when no master is found: the password is held
        by a credential provider, whose repr does not show it (nor does the address's)."""
        address = parse_sentinel_url(self.LOCKED)
        assert "pa;ss" not in repr(address) and "s3cret" not in repr(address)
        assert "pa;ss" not in repr(address.sentinel_kwargs(5.0))

    def test_without_it_the_sentinels_are_asked_without_a_password(self) -> None:
        assert parse_sentinel_url(URL).sentinel_kwargs(2.0) == {
            "socket_connect_timeout": 2.0,
            "socket_timeout": 2.0,
        }

    def test_celery_and_redbeat_ask_the_sentinels_with_it(self) -> None:
        script = (
            "import celeryconfig as c, json; print(json.dumps(["
            "c.broker_transport_options['sentinel_kwargs']['credential_provider'].get_credentials(), "
            "c.redbeat_redis_options['sentinel_kwargs']['credential_provider'].get_credentials()]))"
        )
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": self.LOCKED}
        answer = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == '[["pa;ss w\\"rd"], ["pa;ss w\\"rd"]]'

    @pytest.mark.parametrize(
        "query", ["master_name=m&sentinel_password=", "master_name=m&sentinel_password=a&sentinel_password=b"]
    )
    def test_given_once_and_not_empty(self, query: str) -> None:
        with pytest.raises(SettingsError, match="sentinel_password= is given once, not empty"):
            parse_sentinel_url(f"sentinel://h1?{query}", "STORE_URL")


class TestBadSettings:
    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("sentinel://h1:26379;sentinel://h2:26379", "?master_name=NAME"),
            ("sentinel://h1:26379?master_name=a b", "?master_name=NAME"),
            ("sentinel://h1:26379?master_name=m&db=2", "unknown parameter(s) db"),
            ("sentinel://h1:http?master_name=m", "sentinel 1 has no valid port"),
            ("sentinel://h1/x?master_name=m", "the database after the first sentinel is a number"),
            ("sentinel://h1?master_name=m;redis://h2", "every sentinel is written sentinel://host:port"),
            ("sentinel://h1?master_name=m;sentinel://:pw@h2/1", "go on the first sentinel only"),
        ],
    )
    def test_one_line_naming_the_setting(self, url: str, says: str) -> None:
        with pytest.raises(SettingsError, match=r"^STORE_URL: ") as raised:
            parse_sentinel_url(url, "STORE_URL")
        assert says in str(raised.value)

    def test_the_password_is_never_in_the_message(self) -> None:
        with pytest.raises(SettingsError) as raised:
            parse_sentinel_url("sentinel://:hunter2@h1:26379/0;sentinel://h2", "BROKER_URL")
        assert "hunter2" not in str(raised.value)

    def test_the_broker_url_is_checked_at_start_up_too(self) -> None:
        settings = Settings(redis_url="redis://127.0.0.1:6379/0", broker_url="sentinel://h1:26379")
        with pytest.raises(SettingsError, match=r"^BROKER_URL: "):
            require_redis_url(settings)

    def test_a_store_is_a_sentinel_set_or_a_cluster_not_both(self) -> None:
        settings = Settings(store_url="sentinel://h1?master_name=m", store_cluster=True)
        with pytest.raises(SettingsError, match="STORE_CLUSTER=true and a sentinel:// store URL"):
            check_sentinel_settings(settings)

    def test_the_cli_says_it_in_one_line_and_exits_2(self) -> None:
        """No traceback: `python -m worker store upgrade-layout` with a sentinel URL missing its master."""
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REDIS_URL": "sentinel://h1:26379"}
        answer = subprocess.run(
            [sys.executable, "-m", "worker", "store", "upgrade-layout"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert answer.returncode == 2
        assert answer.stderr.startswith("error: REDIS_URL: name the master Sentinel watches")
        assert "Traceback" not in answer.stderr
