"""Fulfilling reward logs: one coupon or one points earn per reward log, whatever fails in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.dev.programs import BASE_PROGRAM
from worker.engine.logs import accept_log
from worker.rewards.fulfilment import coupon_code, fulfil_reward
from worker.store.progress import ProgressStore
from worker.wix.client import WixAlreadyExists, WixApiError, WixTransientError

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

NOW = datetime.now(UTC)


class StandInWix:
    """Just enough of Wix for fulfilment, with the failures a test asks for."""

    def __init__(self) -> None:
        self.coupons: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.earned: dict[str, int] = {}
        self.fail_next: list[Exception] = []
        self.crash_after_create = False

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def create_coupon(self, instance_id: str, specification: dict[str, Any]) -> str:
        self._maybe_fail()
        if specification["code"] in self.coupons:  # as WixClient answers a refusal the lookup explains
            raise WixAlreadyExists("refused", status=400, existing=self.coupons[specification["code"]])
        self.coupons[specification["code"]] = {"id": f"c-{len(self.coupons)}", "specification": specification}
        if self.crash_after_create:
            self.crash_after_create = False
            raise WixTransientError("timed out after Wix created it")
        return str(self.coupons[specification["code"]]["id"])

    def query_coupons_by_code(self, instance_id: str, code: str) -> list[dict[str, Any]]:
        return [self.coupons[code]] if code in self.coupons else []

    def get_loyalty_account_by_contact(self, instance_id: str, contact_id: str) -> dict[str, Any] | None:
        self._maybe_fail()
        return self.accounts.get(contact_id)

    def create_loyalty_account(self, instance_id: str, contact_id: str) -> dict[str, Any]:
        self.accounts[contact_id] = {"id": f"acct-{contact_id}", "contactId": contact_id}
        return self.accounts[contact_id]

    def earn_points(
        self, instance_id: str, account_id: str, amount: int, description: str, key: str
    ) -> dict[str, Any]:
        self._maybe_fail()
        self.earned.setdefault(key, amount)  # Wix honours the idempotency key
        return {"account": {"id": account_id}}


@pytest.fixture
def store(fake_store) -> ProgressStore:
    store = ProgressStore(fake_store)
    store.save_program("inst-1", {**BASE_PROGRAM, "lateLogGraceHours": 720})  # past weeks still count
    return store


def reward_log(store: ProgressStore, weeks: int) -> dict[str, Any]:
    """Log `weeks` consecutive weeks of the weekly streak; the last reward log it created."""
    program = store.program("inst-1")
    streak = program.streak("weekly-shopper")
    created: list[dict[str, Any]] = []
    for week in range(weeks, 0, -1):
        at = NOW - timedelta(weeks=week - 1)
        log = accept_log(
            streak, contact_id="c1", activity_id="order_paid", activity_value=1,
            activity_at=at, unique_identifier=f"w{week}", now=NOW,
        )  # fmt: skip
        created += store.record("inst-1", program, streak, log, NOW).reward_logs
    return created[-1]


class TestCoupons:
    def test_a_coupon_is_created_and_stamped(self, store, fake_store) -> None:
        """The coupon's code comes from the reward log; the reward log is issued with its times."""
        wix = StandInWix()
        log = reward_log(store, 2)
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW) == "issued"  # type: ignore[arg-type]
        code = coupon_code(log["id"])
        assert len(code) <= 20
        spec = wix.coupons[code]["specification"]
        assert spec["percentOffRate"] == 5
        assert spec["usageLimit"] == 1
        issued = store.reward_log("inst-1", log["id"])
        assert issued["status"] == "issued"
        assert issued["couponCode"] == code
        assert issued["rewardExpiryAt"] > issued["rewardIssuedAt"]

    def test_a_retry_after_wix_created_the_coupon_yields_one_coupon(self, store, fake_store) -> None:
        """Wix created it but the answer was lost: the retry finds the code taken and accepts it."""
        wix = StandInWix()
        wix.crash_after_create = True
        log = reward_log(store, 2)
        with pytest.raises(WixTransientError):
            fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW)  # type: ignore[arg-type]
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW + timedelta(minutes=5)) == "issued"  # type: ignore[arg-type]
        assert len(wix.coupons) == 1
        stamped = store.reward_log("inst-1", log["id"])
        first_start = wix.coupons[coupon_code(log["id"])]["specification"]["startTime"]
        assert stamped["rewardIssuedAt"].startswith(
            datetime.fromtimestamp(int(first_start) / 1000, UTC).isoformat()[:19]
        )

    def test_an_issued_reward_is_left_alone(self, store, fake_store) -> None:
        """Running again after success changes nothing and calls Wix no more."""
        wix = StandInWix()
        log = reward_log(store, 2)
        fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW)  # type: ignore[arg-type]
        wix.fail_next = [AssertionError("Wix must not be called")]
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW) == "issued"  # type: ignore[arg-type]

    def test_a_permanent_error_propagates(self, store, fake_store) -> None:
        """A 400 from Wix is not retried here: the task marks the reward failed."""
        wix = StandInWix()
        wix.fail_next = [WixApiError("bad", status=400, code="INVALID_ARGUMENT")]
        log = reward_log(store, 2)
        with pytest.raises(WixApiError):
            fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW)  # type: ignore[arg-type]
        assert store.reward_log("inst-1", log["id"])["status"] == "pending"


class TestPoints:
    def test_points_are_earned_once_with_the_reward_log_as_key(self, store, fake_store) -> None:
        """Four weeks earn 100 points on a new account; a second run earns nothing more."""
        wix = StandInWix()
        log = reward_log(store, 4)
        assert log["reward"] == {"type": "points", "points": 100}
        assert fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW) == "issued"  # type: ignore[arg-type]
        assert wix.accounts["c1"]["id"] == "acct-c1"
        assert wix.earned == {log["id"]: 100}
        assert store.reward_log("inst-1", log["id"])["status"] == "issued"

    def test_a_crash_after_earning_earns_once(self, store, fake_store) -> None:
        """Wix earned but we never stamped: the retry's earn is refused by Wix's idempotency key."""
        wix = StandInWix()
        log = reward_log(store, 4)
        wix.fail_next = []
        wix.earn_points("inst-1", "acct-c1", 100, "x", log["id"])
        fulfil_reward(wix, fake_store, "inst-1", log["id"], NOW)  # type: ignore[arg-type]
        assert wix.earned == {log["id"]: 100}


class TestManual:
    def test_a_manual_reward_stays_pending(self, store, fake_store) -> None:
        """Manual rewards wait for the Update Reward Log action."""
        program = store.program("inst-1")
        challenge = program.challenge("spend-500")
        log = accept_log(
            challenge, contact_id="c1", activity_id="order_paid", activity_value=300,
            activity_at=NOW, unique_identifier="o1", now=NOW,
        )  # fmt: skip
        [halfway] = store.record("inst-1", program, challenge, log, NOW).reward_logs
        assert fulfil_reward(StandInWix(), fake_store, "inst-1", halfway["id"], NOW) == "pending"  # type: ignore[arg-type]
