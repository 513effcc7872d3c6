"""The periodic triggers on fixed clocks: `reward_expiring` once, the notice days before a reward expires;
`streak_at_risk` once per run and period, when the period's last local day has begun without its
target met (a Sunday 23:30, ISO week 53, a timezone east of UTC, a daily streak)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import time_machine

from worker.dev.programs import challenge, coupon, milestone, program, streak
from worker.dispatch import RecordedDispatcher
from worker.engine.logs import accept_log
from worker.jobs.registry import KINDS
from worker.jobs.runner import JobContext, Jobs
from worker.progress.record import ActivityRequest, issue_reward, record_activity
from worker.rewards.trigger_schemas import trigger_payload_schema
from worker.settings import Settings
from worker.store.progress import ProgressStore

pytestmark = pytest.mark.both_stores  # also on a Redis Cluster (tests/unit/conftest.py)

INSTANCE = "inst-notices"
CONTACT = "5e3b0c1a-7d2f-4a69-9b8e-1c0d2e3f4a5b"


def run(client: Any, name: str, now: datetime, settings: Settings | None = None) -> RecordedDispatcher:
    """Run job `name` for the instance to its end at `now` (the clock frozen there); what it sent."""
    sent = RecordedDispatcher()
    context = JobContext(client, settings or Settings(), wix=lambda: None, dispatcher=lambda: sent)  # type: ignore[arg-type,return-value]
    jobs = Jobs(client, KINDS)
    with time_machine.travel(now, tick=False):
        job, _ = jobs.start(INSTANCE, name)
        while (
            jobs.run_batch(job["id"], now, context) is not None and jobs.get(job["id"])["status"] == "running"
        ):  # type: ignore[index]
            pass
    return sent


def valid(trigger_key: str, payload: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(
        trigger_payload_schema(trigger_key), format_checker=jsonschema.FormatChecker()
    ).validate(payload)


class TestRewardExpiring:
    EXPIRES = datetime(2026, 12, 20, 12, tzinfo=UTC)

    @pytest.fixture
    def reward_log_id(self, fake_store) -> str:  # type: ignore[no-untyped-def]
        """A coupon reward issued on 20 November, expiring 20 December at noon UTC."""
        store = ProgressStore(fake_store)
        store.save_program(INSTANCE, program(challenges=[challenge(
            "spend-50", "Spend $50", method="sum", period="monthly", completion=50,
            milestones=[milestone("fifty", "Fifty", 50, coupon("10% off", 10))],
        )]))  # fmt: skip
        issued = datetime(2026, 11, 20, 12, tzinfo=UTC)
        activity = ActivityRequest("challenge", "spend-50", CONTACT, "order_paid", 60, issued, "o-1")
        [reward_log] = record_activity(store, INSTANCE, activity, issued).reward_logs
        issue_reward(fake_store, INSTANCE, reward_log["id"], coupon_code="WIX-10",
                     issued_at=issued, expiry_at=self.EXPIRES, now=issued)  # fmt: skip
        return str(reward_log["id"])

    def expiring(self, sent: RecordedDispatcher) -> list[str]:
        return [k["reward_log_id"] for t, k, _ in sent.resent if k.get("trigger_key") == "reward_expiring"]

    def test_reported_once_three_days_before_by_default(self, fake_store, reward_log_id) -> None:
        """Nothing 3 days and an hour before; once inside the three days; a second run adds nothing."""
        assert (
            self.expiring(run(fake_store, "reward-expiring", self.EXPIRES - timedelta(days=3, hours=1))) == []
        )
        first = run(fake_store, "reward-expiring", self.EXPIRES - timedelta(days=3) + timedelta(minutes=5))
        assert self.expiring(first) == [reward_log_id]
        assert first.resent[0][0] == "rewards.report_trigger"
        # The report was taken by its task; the next run decides nothing again.
        from worker import keys
        from worker.store import outbox

        outbox.take(
            fake_store, keys.member_outbox(INSTANCE, CONTACT), f"report:reward_expiring:{reward_log_id}"
        )
        assert self.expiring(run(fake_store, "reward-expiring", self.EXPIRES - timedelta(days=1))) == []

    def test_the_notice_days_are_a_setting(self, fake_store, reward_log_id) -> None:
        """REWARD_EXPIRING_NOTICE_DAYS=5: reported four days before."""
        settings = Settings(reward_expiring_notice_days=5)
        sent = run(fake_store, "reward-expiring", self.EXPIRES - timedelta(days=4), settings)
        assert self.expiring(sent) == [reward_log_id]

    def test_a_sites_own_notice_days_win(self, fake_store, reward_log_id) -> None:
        """The site's `rewardExpiringNoticeDays` (1) over REWARD_EXPIRING_NOTICE_DAYS (5): nothing two days
        before, reported inside the last day."""
        from worker.store.site_settings import SiteSettingsPatch, update_site_settings

        patch = SiteSettingsPatch.model_validate({"rewardExpiringNoticeDays": 1})
        update_site_settings(fake_store, INSTANCE, patch)
        settings = Settings(reward_expiring_notice_days=5)
        assert (
            self.expiring(run(fake_store, "reward-expiring", self.EXPIRES - timedelta(days=2), settings))
            == []
        )
        sent = run(fake_store, "reward-expiring", self.EXPIRES - timedelta(hours=20), settings)
        assert self.expiring(sent) == [reward_log_id]

    def test_an_expired_reward_is_not_reported(self, fake_store, reward_log_id) -> None:
        assert self.expiring(run(fake_store, "reward-expiring", self.EXPIRES + timedelta(minutes=1))) == []


WEEKLY = streak("weekly-shopper", "Weekly shopper", period="weekly", completion=10)
DAILY = streak("daily-visit", "Daily visit", period="daily")
PAUSED = streak("paused-one", "Paused", period="weekly", status="paused")


def with_logs(fake_store: Any, timezone: str, *logs: tuple[str, datetime]) -> None:
    store = ProgressStore(fake_store)
    store.save_program(INSTANCE, program(timezone=timezone, streaks=[WEEKLY, DAILY, PAUSED]))
    parsed = store.program(INSTANCE)
    for index, (streak_id, at) in enumerate(logs):
        item = parsed.streak(streak_id)
        assert item is not None
        log = accept_log(item, contact_id=CONTACT, activity_id="order_paid", activity_value=1,
                         activity_at=at, unique_identifier=f"u{index}", now=at)  # fmt: skip
        store.record(INSTANCE, parsed, item, log, at)


def at_risk(sent: RecordedDispatcher) -> list[dict[str, Any]]:
    return [k["payload"] for t, k, _ in sent.resent if k.get("trigger_key") == "streak_at_risk"]


class TestStreakAtRisk:
    def test_sunday_2330_the_last_day_of_a_utc_week(self, fake_store) -> None:
        """Complete last week, nothing this week: not on Saturday evening; on Sunday 23:30 (the week ends
        at midnight) once, and a second run a quarter of an hour later reports nothing more."""
        with_logs(fake_store, "UTC", ("weekly-shopper", datetime(2026, 12, 2, 10, tzinfo=UTC)))
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 12, 23, 30, tzinfo=UTC))) == []
        [payload] = at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 13, 23, 30, tzinfo=UTC)))
        assert payload == {
            "contactId": CONTACT,
            "streakId": "weekly-shopper",
            "streakName": "Weekly shopper",
            "currentProgressValue": 1,
            "periodKey": "2026-12-07",
            "periodEndsAt": "2026-12-14T00:00:00Z",
            "periodValue": 0,
            "periodTarget": 1,
        }
        valid("streak_at_risk", payload)
        from worker import keys

        fake_store.delete(keys.member_outbox(INSTANCE, CONTACT))  # its task took it
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 13, 23, 45, tzinfo=UTC))) == []

    def test_iso_week_53(self, fake_store) -> None:
        """Week 52 complete; week 53 (28 December to 3 January) is at risk on its Sunday, not on New
        Year's Eve, a Thursday."""
        with_logs(fake_store, "UTC", ("weekly-shopper", datetime(2026, 12, 23, 10, tzinfo=UTC)))
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 31, 23, 30, tzinfo=UTC))) == []
        [payload] = at_risk(run(fake_store, "streak-at-risk", datetime(2027, 1, 3, 0, 30, tzinfo=UTC)))
        assert (payload["periodKey"], payload["periodEndsAt"]) == ("2026-12-28", "2027-01-04T00:00:00Z")

    def test_the_last_day_is_the_sites_local_day(self, fake_store) -> None:
        """In Berlin, Saturday 23:30 UTC is already Sunday: at risk. Sunday 23:30 UTC is Monday there: the
        week closed incomplete and the run is broken, not at risk."""
        with_logs(fake_store, "Europe/Berlin", ("weekly-shopper", datetime(2026, 12, 2, 10, tzinfo=UTC)))
        [payload] = at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 12, 23, 30, tzinfo=UTC)))
        assert payload["periodEndsAt"] == "2026-12-13T23:00:00Z"
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 13, 23, 30, tzinfo=UTC))) == []

    def test_a_met_target_or_a_paused_streak_is_not_at_risk(self, fake_store) -> None:
        """Bought this week already: nothing. A paused streak never reports."""
        with_logs(
            fake_store, "UTC",
            ("weekly-shopper", datetime(2026, 12, 2, 10, tzinfo=UTC)),
            ("weekly-shopper", datetime(2026, 12, 9, 10, tzinfo=UTC)),
        )  # fmt: skip
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 13, 23, 30, tzinfo=UTC))) == []

    def test_a_daily_streak_is_at_risk_from_the_start_of_its_day(self, fake_store) -> None:
        """Yesterday done, today not yet: at risk just after midnight, once per day."""
        with_logs(fake_store, "UTC", ("daily-visit", datetime(2026, 12, 9, 18, tzinfo=UTC)))
        [payload] = at_risk(run(fake_store, "streak-at-risk", datetime(2026, 12, 10, 0, 5, tzinfo=UTC)))
        assert (payload["streakId"], payload["periodKey"]) == ("daily-visit", "2026-12-10")

    def test_the_sunday_clocks_go_forward_is_a_last_day_of_23_hours(self, fake_store) -> None:
        """Berlin, 28 March 2027: the week's last day starts at 23:00 UTC on Saturday and ends at 22:00
        UTC on Sunday (CEST); at 01:30 UTC, as the clocks change, the week is at risk."""
        with_logs(fake_store, "Europe/Berlin", ("weekly-shopper", datetime(2027, 3, 17, 10, tzinfo=UTC)))
        assert at_risk(run(fake_store, "streak-at-risk", datetime(2027, 3, 27, 22, 30, tzinfo=UTC))) == []
        [payload] = at_risk(run(fake_store, "streak-at-risk", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)))
        assert (payload["periodKey"], payload["periodEndsAt"]) == ("2027-03-22", "2027-03-28T22:00:00Z")
