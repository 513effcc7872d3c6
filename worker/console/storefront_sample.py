"""The sample member the Storefront page's preview shows: made-up progress over the site's own live
streaks and challenges, shaped by the same `member_view` that answers `/widget/v1/me`, so the preview
looks as a real member's widget does. It is handed to the widget by the preview page itself
(`element.session.sample`); no server route answers it to a shop."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from worker.engine.program import Program
from worker.engine.timestamps import utc_stamp
from worker.storefront.widget_json import member_view

SAMPLE_CONTACT = "sample-member"
SAMPLE_COUPON = "SAMPLE-10"
SAMPLE_BALANCE = 120
CHALLENGE_SHARE = Decimal("0.6")  # how far along the sample member is in each challenge


def _streak(streak_id: str, run: int, target: Decimal, ends: str) -> dict[str, Any]:
    return {
        "streakId": streak_id,
        "streakProgress": {"currentProgressValue": run, "status": "in_progress", "at_risk": True},
        "taskProgress": {"value": "0", "target": str(target), "complete": False, "periodEndsAt": ends},
    }


def sample_member(program: Program | None, instance_id: str, now: datetime) -> dict[str, Any]:
    """A member one run short of each live streak's first milestone, 60% through each live challenge,
    with a coupon issued (named after the programme's first milestone) and some points."""
    ends = utc_stamp(now + timedelta(days=5))
    progress: dict[str, Any] = {
        "contactId": SAMPLE_CONTACT,
        "streaks": [],
        "challenges": [],
        "rewardLogs": [],
        "points": {"balance": SAMPLE_BALANCE, "pointsName": "points", "pointsExpiration": None},
    }
    program = program or Program()
    milestones = [m for s in program.streaks if s.status == "live" for m in s.milestones] + [
        m for c in program.challenges if c.status == "live" for m in c.milestones
    ]
    for streak in (s for s in program.streaks if s.status == "live"):
        first = min((int(m.milestoneTargetValue) for m in streak.milestones), default=2)
        progress["streaks"].append(_streak(streak.id, max(1, first - 1), streak.aggregationTargetValue, ends))
    for challenge in (c for c in program.challenges if c.status == "live"):
        target = Decimal(challenge.completionTargetValue)
        value = (target * CHALLENGE_SHARE).quantize(Decimal(1), rounding=ROUND_DOWN)
        progress["challenges"].append(
            {
                "challengeId": challenge.id,
                "challengeProgress": {
                    "status": "in_progress",
                    "currentProgressValue": str(value),
                    "completionTargetValue": str(target),
                    "windowEndsAt": ends,
                },
            }
        )
    progress["rewardLogs"].append(
        {
            "id": "sample-reward",
            "milestoneName": milestones[0].name if milestones else "Sample reward",
            "reward": {"type": "coupon"},
            "status": "issued",
            "couponCode": SAMPLE_COUPON,
            "rewardExpiryAt": utc_stamp(now + timedelta(days=30)),
            "rewardIssuedAt": utc_stamp(now),
        }
    )
    view = member_view(program, instance_id, progress)
    view["spend"] = sample_spend()
    return view


def sample_spend() -> dict[str, Any]:
    """The *Spend points* section's sample, shaped as `GET /widget/v1/loyalty-rewards` answers: two made-up
    Wix loyalty rewards (one within the sample balance) and no coupons yet; the preview's Redeem is off."""
    return {
        "balance": SAMPLE_BALANCE,
        "rewards": [
            {
                "id": "sample-loyalty-reward-1",
                "name": "10% off",
                "costInPoints": 100,
                "discount": {"type": "percentage", "value": 10},
                "summary": "10% off",
            },
            {
                "id": "sample-loyalty-reward-2",
                "name": "Free shipping",
                "costInPoints": 250,
                "discount": {"type": "freeShipping", "value": None},
                "summary": "Free shipping",
            },
        ],
        "coupons": [],
    }
