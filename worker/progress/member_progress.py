"""A member's progress as shoppers and API clients see it: every streak and challenge, now, and the
member's Wix loyalty points.

Points come from Wix (the member's loyalty account and the site's loyalty program) through the
process's Wix client when Wix credentials are configured. Both answers are kept in Redis for a short
while (`ACCOUNT_TTL_SECONDS`, `PROGRAM_TTL_SECONDS`): shoppers opening the widget must not spend the
site's 200-a-minute Wix budget that rewards need. A points_updated or program_updated webhook drops
the copy it makes stale. Progress never fails because of them:
when Wix cannot answer (down, slow, our rate budget spent, a permission missing) `points` is null and
a warning is logged, as it is null when the site has no loyalty program or the member no account.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from worker import keys
from worker.engine.challenges import ChallengeWindow, challenge_progress, window_of
from worker.engine.periods import period_of
from worker.engine.program import Challenge
from worker.engine.streaks import streak_runs, task_progress
from worker.progress.tiers import cached_tiers_program, tier_progress
from worker.settings import SettingsError
from worker.store.member_status import status_of
from worker.store.progress import ProgressStore
from worker.wix.client import WixApiError, WixClient, WixError

logger = logging.getLogger(__name__)

WixProvider = Callable[[], WixClient | None]


ACCOUNT_TTL_SECONDS = 30
PROGRAM_TTL_SECONDS = 300


def _cached(
    cache: redis.Redis | None, key: str, ttl: int, fetch: Callable[[], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """`fetch()`'s answer (None included), kept under `key` for `ttl` seconds."""
    if cache is not None:
        kept = cache.get(key)
        if kept is not None:
            return json.loads(kept)  # type: ignore[arg-type,no-any-return]
    answer = fetch()
    if cache is not None:
        cache.set(key, json.dumps(answer), ex=ttl)
    return answer


def _program_or_none(wix: WixClient, instance_id: str) -> dict[str, Any] | None:
    try:
        return wix.get_loyalty_program(instance_id)
    except WixApiError as exc:
        if exc.status == 404:
            return None
        raise


def loyalty_points(
    wix: WixClient, instance_id: str, contact_id: str, cache: redis.Redis | None = None
) -> dict[str, Any] | None:
    """`{"balance", "pointsName", "pointsExpiration"}` from the contact's Wix loyalty account and the
    site's program; None when the contact has no account or the site no program. Wix errors propagate."""
    account = _cached(
        cache,
        keys.loyalty_account_copy(instance_id, contact_id),
        ACCOUNT_TTL_SECONDS,
        lambda: wix.get_loyalty_account_by_contact(instance_id, contact_id),
    )
    if account is None:
        return None
    program = _cached(
        cache,
        keys.loyalty_program_copy(instance_id),
        PROGRAM_TTL_SECONDS,
        lambda: _program_or_none(wix, instance_id),
    )
    if program is None:
        return None
    points = account.get("points")
    balance = points.get("balance") if isinstance(points, dict) else None
    definition = program.get("pointDefinition")
    name = definition.get("customName") if isinstance(definition, dict) else None
    expiration = program.get("pointsExpiration")
    return {
        "balance": balance if isinstance(balance, int) else 0,
        "pointsName": name if isinstance(name, str) and name else "Points",
        "pointsExpiration": expiration if isinstance(expiration, dict) else None,
    }


def member_points(
    wix: WixProvider, instance_id: str, contact_id: str, cache: redis.Redis | None = None
) -> dict[str, Any] | None:
    """`loyalty_points`, or None when Wix is not configured or cannot answer now (logged)."""
    try:
        client = wix()
        if client is None:
            return None
        return loyalty_points(client, instance_id, contact_id, cache)
    except (WixError, SettingsError, redis.RedisError) as exc:
        logger.warning(
            "loyalty points are not available now",
            extra={"instance_id": instance_id, "reason": f"{type(exc).__name__}: {exc}"},
        )
        return None


def member_tier_progress(
    wix: WixProvider, instance_id: str, contact_id: str, cache: redis.Redis | None = None
) -> dict[str, Any] | None:
    """The member's Wix tier and what the next one needs (worker/progress/tiers.py), or None: a site
    without ACTIVE tiers, no account, Wix not configured or not answering now (logged at info: the
    points above say so already)."""
    try:
        client = wix()
        if client is None:
            return None
        account = _cached(
            cache,
            keys.loyalty_account_copy(instance_id, contact_id),
            ACCOUNT_TTL_SECONDS,
            lambda: client.get_loyalty_account_by_contact(instance_id, contact_id),
        )
        if account is None:
            return None
        return tier_progress(cached_tiers_program(client, instance_id, cache), account)
    except (WixError, SettingsError, redis.RedisError) as exc:
        logger.info("the loyalty tier is not available now", extra={"reason": type(exc).__name__})
        return None


def _window_now(challenge: Challenge, now: datetime, zone: Any) -> ChallengeWindow:
    window = window_of(challenge, now, zone)
    if window is None:  # a one-off window that has not started or has ended: show that window
        assert challenge.window is not None
        return ChallengeWindow(
            challenge.window.startsAt.isoformat(), challenge.window.startsAt, challenge.window.endsAt
        )
    return window


def member_progress(
    store: ProgressStore,
    instance_id: str,
    contact_id: str,
    now: datetime,
    *,
    wix: WixProvider,
) -> dict[str, Any]:
    program = store.program(instance_id)
    zone = program.zone
    streaks = []
    for streak in program.streaks:
        state = store.member_state(instance_id, contact_id, "streak", streak.id)
        runs, tallies = streak_runs(state.logs, streak, zone, now)
        span = period_of(now, streak.aggregationPeriod, zone)
        current = runs[-1].to_json(streak) if runs else None
        streaks.append(
            {
                "streakId": streak.id,
                "name": streak.name,
                "status": streak.status,
                "streakProgress": current,
                "taskProgress": task_progress(streak, span, tallies.get(span.key)),
            }
        )
    challenges = []
    for challenge in program.challenges:
        state = store.member_state(instance_id, contact_id, "challenge", challenge.id)
        window = _window_now(challenge, now, zone)
        progress = challenge_progress(state.logs, challenge, window, now)
        challenges.append(
            {
                "challengeId": challenge.id,
                "name": challenge.name,
                "status": challenge.status,
                "challengeProgress": progress.to_json(challenge),
            }
        )
    return {
        "contactId": contact_id,
        "status": status_of(store.client, instance_id, contact_id),  # `live` or `paused`
        "streaks": streaks,
        "challenges": challenges,
        "rewardLogs": store.member_reward_logs(instance_id, contact_id),
        "points": member_points(wix, instance_id, contact_id, store.client),
        "tier": member_tier_progress(wix, instance_id, contact_id, store.client),  # None: no Wix tiers
        # Runs and windows the sweep has closed for good (broken, failed), with their stamps.
        "closedRecords": store.closed_records(instance_id, contact_id),
    }
