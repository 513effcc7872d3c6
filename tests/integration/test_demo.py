"""`make demo` (python -m worker demo) tells the whole story and cleans up after itself."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.conftest import ROOT


def test_the_demo_issues_a_coupon_and_points() -> None:
    """A coupon for two weeks running, points for spending, triggers reported; exit 0, on any day of
    the month (a week back is last month in the first week). A shell whose store and broker settings
    name other servers (here, nothing listens) does not lead it away from its own Redis."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {"STORE_URL": "redis://127.0.0.1:9/0", "BROKER_URL": "redis://127.0.0.1:9/0"}
    demo = subprocess.run(
        [sys.executable, "-m", "worker", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    assert "Streak 'Weekly shopper': 2 weeks in a row" in out
    assert "Two weeks running: coupon issued, coupon RW-" in out
    assert "A hundred spent: points issued" in out
    assert "loyalty account of demo-contact-jane: 64 points" in out
    assert out.count("automation trigger order_paid (order #") == 3
    assert out.count("automation trigger points_earned (+") == 3
    assert out.count("automation trigger milestone_achieved") == 2
    assert out.count("automation trigger reward_issued (Two weeks running)") == 1
    assert out.count("automation trigger") == 10
