"""The service's settings: one pydantic-settings class, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting the service cannot start without is missing or unusable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    redis_url: str | None = None
    # Where Celery's tasks travel (`redis://`, or `amqp://` for RabbitMQ with quorum queues) and where the
    # store and the event journal live; each unset: REDIS_URL (README "Settings").
    broker_url: str | None = None
    store_url: str | None = None
    wix_public_key: SecretStr | None = None
    wix_public_key_file: str | None = None
    wix_app_id: str | None = None
    wix_app_secret: SecretStr | None = None
    wix_api_base: str = "https://www.wixapis.com"
    # Wix allows 200 requests a minute per site; every worker shares this budget (worker/wix/rate_limit.py).
    wix_rate_limit_per_minute: int = Field(default=200, ge=1, le=10_000)
    # The window that budget is counted over: Wix's minute and a second (worker/wix/rate_limit.py
    # WINDOW_SECONDS). Only tests shrink it, to see in seconds how workers share a minute's budget.
    wix_rate_limit_window_seconds: float = Field(default=61.0, gt=0, le=3600)
    # How long one Wix call may take to answer. At most 60: a redemption (worker.loyalty.spending) must
    # end its Wix calls within its lock's 110 s, and one call may take this plus 20 s of pool, connect and
    # write timeouts; past ~90 s no redemption could start at all.
    wix_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    admin_token: SecretStr | None = None
    # When set, `GET /metrics` wants `Authorization: Bearer METRICS_TOKEN` (README "Who listens where").
    metrics_token: SecretStr | None = None
    widget_token_secret: SecretStr | None = None
    port: int = 8000
    # `python -m worker web`'s uvicorn processes on `PORT` (uvicorn's --workers); /metrics then sums them.
    web_processes: int = Field(default=1, ge=1, le=64)
    flower_port: int = 5555
    # Flower's /metrics and /healthcheck answer without credentials: it listens on this machine only
    # unless told otherwise (README "Who listens where").
    flower_address: str = "127.0.0.1"
    embedded_redis_port: int = 6399  # `make run` without REDIS_URL
    sentry_dsn: SecretStr | None = None
    log_level: str = "INFO"
    flower_basic_auth: SecretStr | None = None
    worker_env: Literal["development", "production"] = "development"

    # How long Redis keeps an unacknowledged task before handing it to another worker. Celery's
    # retry countdowns and time limits are derived from it (see celeryconfig.py).
    celery_visibility_timeout: int = Field(default=3600, ge=10)
    # Seen-marks and journal records outlive Wix's retry window (~47 h; 7 days to be safe).
    event_journal_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=8 * 24 * 3600)
    webhook_max_bytes: int = 1024 * 1024
    jwt_leeway_seconds: int = 60
    # Two-way points sync with an external loyalty system over Standard Webhooks (worker/sync/points.py):
    # no URL, no outbound sync; the `whsec_` secret signs what we send and verifies what it sends.
    external_sync_url: str | None = None
    external_sync_secret: SecretStr | None = None
    external_sync_match_by: Literal["email", "contactId"] = "email"
    # Defaults for every instance; an instance's own values (worker/store/site_settings.py) win.
    auto_bootstrap: bool = False  # start `bootstrap` when the app is installed (the merchant's decision: off)
    reward_expiring_notice_days: int = Field(
        default=3, ge=0, le=365
    )  # `reward_expiring` this long before expiry
    # Where Wix reaches this service: the embedded script's `host` (unset: no embedding on install) and the
    # URLs `python -m worker wix-app show` prints for the Dev Center.
    public_base_url: str | None = None
    # How long a removed site's data is kept before the purge (worker/installs/purge.py).
    instance_retention_days: int = Field(default=30, ge=0)
    dry_run_max_events: int = Field(default=200_000, ge=1)  # a dry-run replays at most this many events
    # Signs the merchant console's sessions and sign-in links (worker/console/sessions.py), 32+ bytes.
    console_secret: SecretStr | None = None
    # The store's URL names one node of a Redis Cluster: its clients are redis-py's cluster client, and every
    # atomic step stays within one hash slot (worker/keys.py).
    store_cluster: bool = False

    @property
    def store_address(self) -> str | None:
        """The store's (and journal's) Redis: STORE_URL, else REDIS_URL."""
        return self.store_url or self.redis_url

    @property
    def broker_address(self) -> str | None:
        """Celery's broker: BROKER_URL, else REDIS_URL."""
        return self.broker_url or self.redis_url

    @property
    def broker_is_amqp(self) -> bool:
        return (self.broker_address or "").startswith(("amqp://", "amqps://", "pyamqp://"))

    @property
    def is_production(self) -> bool:
        return self.worker_env == "production"

    def public_key_text(self) -> str | None:
        """The Wix public key as configured, from the variable or the file it names."""
        if self.wix_public_key is not None:
            return self.wix_public_key.get_secret_value()
        if self.wix_public_key_file:
            try:
                with open(self.wix_public_key_file, encoding="utf-8") as handle:
                    return handle.read()
            except OSError as exc:
                raise SettingsError(
                    f"WIX_PUBLIC_KEY_FILE: cannot read {self.wix_public_key_file}: {exc.strerror}"
                ) from exc
        return None

    def check_for_production(self) -> None:
        """Refuse to run in production without what production needs; one line names it."""
        if not self.is_production:
            return
        if not (self.store_address and self.broker_address):
            raise SettingsError("REDIS_URL is not set (required when WORKER_ENV=production)")
        if self.public_key_text() is None:
            raise SettingsError(
                "WIX_PUBLIC_KEY or WIX_PUBLIC_KEY_FILE is not set (required when WORKER_ENV=production)"
            )
        if self.admin_token is None or not self.admin_token.get_secret_value():
            raise SettingsError("ADMIN_TOKEN is not set (required when WORKER_ENV=production)")
        widget_secret = self.widget_token_secret.get_secret_value() if self.widget_token_secret else ""
        if len(widget_secret.encode()) < 32:  # HS256 wants a key as long as its hash (RFC 7518 §3.2)
            raise SettingsError(
                "WIDGET_TOKEN_SECRET is not set or under 32 bytes (required when WORKER_ENV=production)"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()


def wix_configured(settings: Settings) -> bool:
    """Whether the service can call Wix (an app id and secret)."""
    secret = settings.wix_app_secret
    return bool(settings.wix_app_id) and secret is not None and bool(secret.get_secret_value())
