"""`make demo`: the whole product on this machine, with the local fake of Wix standing in for Wix.

Starts an embedded Redis, the fake Wix, the receiver and a worker; applies a sample program; plays a
customer's story through signed webhooks (an order last week, two this week, and the checkouts); then
prints the streak, the challenge, the reward logs, and the coupons, points and automation triggers
that appeared in the fake Wix. Everything it started is stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from worker.dev.programs import challenge, coupon, milestone, points, points_rule, program, rule, streak
from worker.infra.embedded_redis import EmbeddedRedis, free_port
from worker.infra.redis_client import sync_client
from worker.progress.member_progress import member_progress
from worker.runtime.providers import configured_wix
from worker.store.progress import ProgressStore
from worker.wix.fake.payloads import EventOptions, checkout_completed, payment_status_updated
from worker.wix.webhook_signing import sign_webhook

INSTANCE = "demo-instance-0000-4000-8000-000000000001"
CONTACT = "demo-contact-jane"
APP_ID = "demo-app-0000-4000-8000-000000000001"
APP_SECRET = "demo-app-secret"  # noqa: S105  (the fake Wix's, for the demo only)

PROGRAM: dict[str, Any] = program(
    late_log_grace_hours=240,
    streaks=[
        streak(
            "weekly-shopper",
            "Weekly shopper",
            period="weekly",
            completion=8,
            milestones=[
                milestone(
                    "two-weeks",
                    "Two weeks running",
                    2,
                    coupon("10% off", 10, valid_days=30),
                    instructions="Use this code at checkout",
                )
            ],
        )
    ],
    challenges=[
        challenge(
            "spend-100",
            "Spend $100 this month",
            method="sum",
            period="monthly",
            completion=100,
            milestones=[milestone("hundred", "A hundred spent", 100, points(50))],
        )
    ],
    rules=[
        rule("order_paid", streak="weekly-shopper"),
        rule("order_paid", challenge="spend-100", value="order.total"),
    ],
    points_rules=[points_rule("checkout_completed", 1, per=10)],
)


def _wait(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: gave up waiting for {what}")
        time.sleep(0.2)


class Stack:
    """The processes the demo starts, stopped together."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> None:
        handle = log.open("wb")
        self.processes.append(
            subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _order(key: RSAPrivateKey, base: str, total: str, when: datetime) -> None:
    order = EventOptions(
        order_id=str(uuid.uuid4()), contact_id=CONTACT, total=total, event_time=when.timestamp()
    )
    token = sign_webhook(
        key, "wix.ecom.v1.order_payment_status_updated", INSTANCE, payment_status_updated(order)
    )
    httpx.post(f"{base}/webhooks/wix", content=token, timeout=5).raise_for_status()
    checkout = EventOptions(**{**order.__dict__, "event_id": str(uuid.uuid4())})
    token = sign_webhook(key, "wix.ecom.v1.checkout_completed", INSTANCE, checkout_completed(checkout))
    httpx.post(f"{base}/webhooks/wix", content=token, timeout=5).raise_for_status()
    print(f"  order of ${total} paid {when:%a %d %b} (webhooks: payment status updated, checkout completed)")


# The demo runs on its own embedded Redis: a shell's store, broker or cluster settings would point its
# processes elsewhere, and its errors are not an operator's to report.
_NOT_INHERITED = frozenset({"SENTRY_DSN", "STORE_URL", "STORE_CLUSTER", "BROKER_URL"})


def demo_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the demo's processes start from: the shell's, less what would lead them away
    from the demo's own Redis (each sets its `REDIS_URL` on top)."""
    return {name: value for name, value in environ.items() if name not in _NOT_INHERITED}


def run_demo() -> int:
    work = Path(tempfile.mkdtemp(prefix="wrw-demo-"))
    redis_server = EmbeddedRedis(work / "redis", persistent=False)
    stack = Stack()
    try:
        redis_url = redis_server.start()
        fake_port, web_port = free_port(), free_port()
        fake = f"http://127.0.0.1:{fake_port}"
        base = f"http://127.0.0.1:{web_port}"
        env = demo_environment(os.environ)
        stack.start(
            [sys.executable, "-m", "worker.wix.fake", "--port", str(fake_port), "--app-id", APP_ID,
             "--app-secret", APP_SECRET, "--private-key", str(work / "wix-key.pem"),
             "--public-key-out", str(work / "wix-key.pub.pem")],
            env, work / "fake-wix.log",
        )  # fmt: skip
        _wait(lambda: httpx.get(f"{fake}/_fake/health", timeout=1).status_code == 200, 20, "the fake Wix")
        service = {
            **env,
            "REDIS_URL": redis_url,
            "WIX_PUBLIC_KEY": (work / "wix-key.pub.pem").read_text(),
            "WIX_APP_ID": APP_ID,
            "WIX_APP_SECRET": APP_SECRET,
            "WIX_API_BASE": fake,
            "PORT": str(web_port),
            "LOG_LEVEL": "WARNING",
        }
        stack.start([sys.executable, "-m", "worker", "web"], service, work / "web.log")
        stack.start(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel=WARNING",
             "--concurrency=2", "--queues=events,rewards,bulk,periodic"],
            service, work / "worker.log",
        )  # fmt: skip
        _wait(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, 30, "the receiver")
        print(f"Started: embedded Redis {redis_url}, fake Wix {fake}, receiver {base}, one worker")
        print(f"(their logs are in {work})")

        # The demo's store is always the embedded single Redis it started (never a cluster or a Sentinel
        # set), so the plain client is the one that fits; the store client factory would read STORE_*.
        store = sync_client(redis_url)
        ProgressStore(store).save_program(INSTANCE, PROGRAM)
        print(
            "Applied the sample program: a weekly streak (coupon at two weeks), a $100 challenge (50 points),"
        )
        print("and 1 loyalty point per $10 at checkout.\n\nJane shops:")
        key = load_pem_private_key((work / "wix-key.pem").read_bytes(), password=None)
        assert isinstance(key, RSAPrivateKey)
        now = datetime.now(UTC)
        # Last week's order keeps the streak going; today's two make the hundred on their own, so the
        # month's challenge is reached whichever day of the month the demo runs (a week ago may be
        # last month).
        _order(key, base, "45.00", now - timedelta(days=7))
        _order(key, base, "60.00", now - timedelta(minutes=2))
        _order(key, base, "40.00", now - timedelta(minutes=1))

        progress_store = ProgressStore(store)

        def settled() -> bool:
            logs = progress_store.member_reward_logs(INSTANCE, CONTACT)
            return len(logs) == 2 and all(log["status"] == "issued" for log in logs)

        _wait(settled, 60, "the rewards to be issued")
        _wait(lambda: _trigger_counts(fake) == EXPECTED_TRIGGERS, 60, "the automation triggers")
        _print_results(
            member_progress(progress_store, INSTANCE, CONTACT, datetime.now(UTC), wix=configured_wix), fake
        )
        return 0
    finally:
        stack.stop()
        redis_server.stop()


def _fake(fake: str, collection: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{fake}/_fake/instances/{INSTANCE}/{collection}", timeout=5).json()
    return list(answer[collection])


# Jane's story reports, once each: three orders paid, two milestones reached and their rewards issued,
# and the points of her three checkouts (1 per $10).
EXPECTED_TRIGGERS = Counter(
    {"order_paid": 3, "milestone_achieved": 2, "reward_issued": 2, "points_earned": 3}
)


def _trigger_counts(fake: str) -> Counter[str]:
    return Counter(report["triggerKey"] for report in _fake(fake, "triggerReports"))


def _trigger_detail(payload: dict[str, Any]) -> str:
    if "milestoneName" in payload:
        return str(payload["milestoneName"])
    if "orderNumber" in payload:
        return f"order #{payload['orderNumber']}, {payload.get('total')} {payload.get('currency')}"
    if "points" in payload:
        return f"+{payload['points']} points"
    return ""


def _print_results(progress: dict[str, Any], fake: str) -> None:
    [streak] = progress["streaks"]
    [challenge] = progress["challenges"]
    run = streak["streakProgress"]
    print(f"\nStreak '{streak['name']}': {run['currentProgressValue']} weeks in a row ({run['status']})")
    c = challenge["challengeProgress"]
    total, target = c["currentProgressValue"], c["completionTargetValue"]
    print(f"Challenge '{challenge['name']}': ${total} of ${target} ({c['status']})")
    print("\nReward logs:")
    for log in progress["rewardLogs"]:
        code = f", coupon {log['couponCode']}" if log.get("couponCode") else ""
        print(f"  {log['milestoneName']}: {log['reward']['type']} {log['status']}{code}")
    print("\nIn the fake Wix:")
    for made in _fake(fake, "coupons"):
        spec = made["specification"]
        print(f"  coupon {spec['code']}: {spec['name']}, one use")
    for account in _fake(fake, "accounts"):
        print(f"  loyalty account of {account['contactId']}: {account['points']['balance']} points")
    for report in _fake(fake, "triggerReports"):
        print(f"  automation trigger {report['triggerKey']} ({_trigger_detail(report['payload'])})")
    print("\n" + json.dumps({"done": True}))
