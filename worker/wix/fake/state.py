"""The fake's memory: one `FakeWix` per process, one `InstanceState` per app instance (site).

Everything lives in plain dicts and lists. The app runs on uvicorn's single event loop and no handler
awaits between reading and writing state, so each request's changes are atomic without locks.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from worker.wix.fake.traffic import CallLog, FaultBook, RandomFaults, RateLimiter
from worker.wix.webhook_signing import new_private_key, public_pem

TOKEN_LIFETIME = 14400  # seconds; "always 14400 s (4 h)" (wix-facts.md §4.1)
Clock = Callable[[], float]


def new_id() -> str:
    return str(uuid.uuid4())


def iso(timestamp: float) -> str:
    """Wix's timestamp spelling: ISO-8601 UTC with milliseconds, e.g. `2021-12-07T07:26:56.417Z`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeSettings:
    """What the fake accepts; `reset()` restores the values it started with."""

    app_id: str
    app_secret: str
    rate_limit_per_minute: int = 200  # per instance (wix-facts.md §4.6); 0 turns the limit off
    # Wix counts that limit over 60 s; a test may shrink the window to see a minute's sharing in seconds.
    rate_limit_window_seconds: float = 60.0
    require_contacts: bool = False  # loyalty accounts only for seeded contacts ("contact must exist")
    webhook_url: str | None = None  # where the fake posts the webhooks Wix would send (None: nowhere)

    def public(self) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "rateLimitPerMinute": self.rate_limit_per_minute,
            "rateLimitWindowSeconds": self.rate_limit_window_seconds,
            "requireContacts": self.require_contacts,
            "webhookUrl": self.webhook_url,
        }


@dataclass
class Grant:
    """What an access token stands for."""

    instance_id: str
    app_id: str
    issued_at: float
    expires_at: float
    subject_type: str = "APP"  # APP: client credentials; MEMBER, VISITOR: site tokens; USER: dashboard
    subject_id: str = ""
    revoked: bool = False

    def active(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


def default_program(now: float, status: str = "ACTIVE") -> dict[str, Any]:
    """An ACTIVE program, so accounts can be created without seeding one (wix-facts.md §3.5), with
    the points expiration and premium features of Wix's own example (seed 003): expiration DISABLED
    after 3 months at 100%, every premium feature on. A newly installed Loyalty app's is a DRAFT."""
    return {
        "name": "Loyalty program",
        "pointDefinition": {"customName": "Points", "icon": {"url": "shapes/points.svg"}},
        "status": status,
        "pointsExpiration": {"status": "DISABLED", "monthsOfInactivity": 3, "expiringPointsPercentage": 100},
        "premiumFeatures": {"loyaltyProgram": True, "tiers": True, "pointsExpiration": True},
        "createdDate": iso(now),
        "updatedDate": iso(now),
    }


@dataclass
class InstanceState:
    """Everything one site holds, and everything our app did to it."""

    instance_id: str
    program: dict[str, Any]
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # site members, by member id
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_payments: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # worker.wix.fake.order_transactions
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # Wix Stores, by product id
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account id, Wix's shape
    transactions: list[dict[str, Any]] = field(default_factory=list)  # with `accountId` added
    earn_results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (account, key)
    coupons: dict[str, dict[str, Any]] = field(default_factory=dict)  # by coupon id, stored form
    trigger_reports: list[dict[str, Any]] = field(default_factory=list)
    ignored_trigger_reports: list[dict[str, Any]] = field(default_factory=list)
    trigger_keys_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)  # -> expiry
    canceled_events: list[dict[str, Any]] = field(default_factory=list)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    loyalty_app_installed: bool = True  # False: the program API answers 404 (worker.wix.fake.loyalty_program)
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # what the fake sent, as Wix would
    embedded_script: dict[str, Any] | None = None  # `{"parameters", "disabled"}` once embedded
    installed: bool = True  # False after the fake sent AppRemoved (until it sends AppInstalled again)
    # Loyalty tiers (worker.wix.fake.loyalty_tiers): the program settings once set up, and the tiers.
    tiers_settings: dict[str, Any] | None = None
    tiers: list[dict[str, Any]] = field(default_factory=list)
    loyalty_rewards: dict[str, dict[str, Any]] = field(default_factory=dict)  # the catalog, by reward id
    loyalty_coupons: dict[str, dict[str, Any]] = field(default_factory=dict)  # redeemed, by loyalty coupon id

    def account_for_contact(self, contact_id: str) -> dict[str, Any] | None:
        for account in self.accounts.values():
            if account["contactId"] == contact_id:
                return account
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded, for `/_fake/` read-back."""
        return {
            "instanceId": self.instance_id,
            "program": self.program,
            "contacts": list(self.contacts.values()),
            "members": list(self.members.values()),
            "orders": list(self.orders.values()),
            "accounts": list(self.accounts.values()),
            "transactions": self.transactions,
            "coupons": list(self.coupons.values()),
            "triggerReports": self.trigger_reports,
            "ignoredTriggerReports": self.ignored_trigger_reports,
            "canceledEvents": self.canceled_events,
            "conversations": list(self.conversations.values()),
            "messages": self.messages,
            "loyaltyAppInstalled": self.loyalty_app_installed,
            "webhooks": self.webhooks,
            "embeddedScript": self.embedded_script,
            "installed": self.installed,
            "tiersSettings": self.tiers_settings,
            "tiers": self.tiers,
            "loyaltyRewards": list(self.loyalty_rewards.values()),
            "loyaltyCoupons": list(self.loyalty_coupons.values()),
        }


class FakeWix:
    """The whole fake: credentials, key pair, instances, tokens and the traffic switches."""

    def __init__(
        self,
        settings: FakeSettings,
        private_key: rsa.RSAPrivateKey | None = None,
        *,
        clock: Clock = time.time,
        public_key_path: str | None = None,
    ) -> None:
        self.settings = settings
        self._initial_settings = FakeSettings(**vars(settings))
        self.private_key = private_key or new_private_key()
        self.public_key_pem = public_pem(self.private_key)
        self.public_key_path = public_key_path
        self.clock = clock
        self.instances: dict[str, InstanceState] = {}
        self.tokens: dict[str, Grant] = {}
        self.faults = FaultBook()
        self.random_faults = RandomFaults()
        self.limiter = RateLimiter(clock)
        self.calls = CallLog(clock)
        # The embedded script's placeholders, when told (`PUT /_fake/script`); None: read the repository's.
        self.script_placeholders: set[str] | None = None

    def instance(self, instance_id: str) -> InstanceState:
        """The instance's state, created on first use (an app is installed wherever it is asked about)."""
        state = self.instances.get(instance_id)
        if state is None:
            state = InstanceState(instance_id, default_program(self.clock()))
            self.instances[instance_id] = state
        return state

    def peek(self, instance_id: str) -> InstanceState:
        """The instance's state for reading: an empty one, not kept, if it was never used."""
        return self.instances.get(instance_id) or InstanceState(instance_id, default_program(self.clock()))

    def issue_token(
        self, instance_id: str, subject_type: str = "APP", subject_id: str = "", app_id: str | None = None
    ) -> str:
        """A 4-hour token for the instance, standing for the subject, issued to our app (or `app_id`)."""
        now = self.clock()
        token = "OauthNG.JWS." + secrets.token_urlsafe(32)
        self.tokens[token] = Grant(
            instance_id=instance_id,
            app_id=app_id or self.settings.app_id,
            issued_at=now,
            expires_at=now + TOKEN_LIFETIME,
            subject_type=subject_type,
            subject_id=subject_id or (self.settings.app_id if subject_type == "APP" else ""),
        )
        self.instance(instance_id)
        return token

    def revoke_tokens(self, instance_id: str | None = None) -> int:
        """Make every token (of one instance, or all) fail with 401 from now on."""
        revoked = 0
        for grant in self.tokens.values():
            if not grant.revoked and (instance_id is None or grant.instance_id == instance_id):
                grant.revoked = True
                revoked += 1
        return revoked

    def reset(self) -> None:
        """Forget everything but the key pair: instances, tokens, faults, calls, settings."""
        self.settings = FakeSettings(**vars(self._initial_settings))
        self.instances.clear()
        self.tokens.clear()
        self.faults.clear()
        self.random_faults.clear()
        self.limiter.clear()
        self.calls.clear()
        self.script_placeholders = None
