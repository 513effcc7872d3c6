"""Settings: production refuses to start without what it needs, and says which in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


class TestProductionChecks:
    @pytest.mark.parametrize(
        ("missing", "named"),
        [("redis_url", "REDIS_URL"), ("wix_public_key", "WIX_PUBLIC_KEY"), ("admin_token", "ADMIN_TOKEN")],
    )
    def test_each_missing_setting_is_named(self, missing: str, named: str) -> None:
        """Each required production setting, when missing, is named in the error."""
        values = {"redis_url": "redis://x", "wix_public_key": "pem", "admin_token": "t"}
        values[missing] = None  # type: ignore[assignment]
        settings = Settings(worker_env="production", _env_file=None, **values)  # type: ignore[arg-type]
        with pytest.raises(SettingsError, match=named):
            settings.check_for_production()

    def test_development_starts_without_them(self) -> None:
        """Development mode does not insist."""
        Settings(worker_env="development", _env_file=None).check_for_production()

    def test_the_key_can_come_from_a_file(self, tmp_path: Path, public_key_pem: str) -> None:
        """WIX_PUBLIC_KEY_FILE names a file holding the PEM."""
        key_file = tmp_path / "wix.pem"
        key_file.write_text(public_key_pem)
        settings = Settings(wix_public_key_file=str(key_file), _env_file=None)  # type: ignore[call-arg]
        assert settings.public_key_text() == public_key_pem

    def test_an_unreadable_key_file_is_a_clear_error(self, tmp_path: Path) -> None:
        """A key file that is not there is named."""
        settings = Settings(wix_public_key_file=str(tmp_path / "nope.pem"), _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(SettingsError, match="WIX_PUBLIC_KEY_FILE"):
            settings.public_key_text()


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "worker", "web"],
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel=WARNING"],
    ],
    ids=["web", "celery worker"],
)
def test_production_start_up_stops_with_one_line(command: list[str]) -> None:
    """`WORKER_ENV=production` without REDIS_URL: the process exits with one line naming it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "WIX_", "ADMIN_TOKEN"))}
    env["WORKER_ENV"] = "production"
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode != 0
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert lines == ["error: REDIS_URL is not set (required when WORKER_ENV=production)"]


@pytest.mark.parametrize(("seconds", "accepted"), [(60, True), (61, False), (0, False)])
def test_a_wix_timeout_leaves_a_redemption_time_under_its_lock(seconds: float, accepted: bool) -> None:
    """`WIX_TIMEOUT_SECONDS` is at most 60: a points redemption ends its Wix calls within its lock's
    110 s, and a call may take this plus 20 s; much more and no redemption could start."""
    if accepted:
        assert Settings(wix_timeout_seconds=seconds, _env_file=None).wix_timeout_seconds == seconds  # type: ignore[call-arg]
    else:
        with pytest.raises(ValueError, match="wix_timeout_seconds"):
            Settings(wix_timeout_seconds=seconds, _env_file=None)  # type: ignore[call-arg]
