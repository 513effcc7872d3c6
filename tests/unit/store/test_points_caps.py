"""The caps' Lua reservation against a real Redis: cut to what fits, once per idempotency key, never past
a member's cap or a rule's budget, whatever the order, the duplicates or the concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.store import points_caps
from worker.store.points_caps import Limit

INSTANCE = "caps-test"
WHEN = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 4, 1, tzinfo=UTC)


def limit(points: int) -> Limit:
    return Limit(points, "monthly:2026-03-01", PERIOD_END)


def reserve(
    client: redis.Redis, contact: str, key: str, points: int, cap: int | None, budget: int | None
) -> int:
    grant = points_caps.reserve(
        client,
        INSTANCE,
        0,
        contact,
        key,
        points,
        WHEN,
        member_cap=limit(cap) if cap is not None else None,
        budget=limit(budget) if budget is not None else None,
    )
    return grant.points


class TestReserve:
    def test_an_earn_is_cut_to_what_fits_then_nothing(self, real_redis: redis.Redis) -> None:
        """A 500 monthly cap: 300, then 300 cut to 200 (member), then 0; the reason is kept."""
        assert reserve(real_redis, "c1", "k1", 300, 500, None) == 300
        second = points_caps.reserve(
            real_redis, INSTANCE, 0, "c1", "k2", 300, WHEN, member_cap=limit(500), budget=None
        )
        assert second == points_caps.Grant(200, "member")
        assert reserve(real_redis, "c1", "k3", 300, 500, None) == 0
        assert points_caps.member_used(real_redis, INSTANCE, 0, "monthly:2026-03-01", "c1") == 500

    def test_a_repeat_answers_the_first_grant_and_counts_nothing(self, real_redis: redis.Redis) -> None:
        """Redelivered (even asking more, e.g. after a tier change): the same 200 with the same reason."""
        reserve(real_redis, "c1", "k1", 300, 500, None)
        assert reserve(real_redis, "c1", "k2", 300, 500, None) == 200
        assert reserve(real_redis, "c1", "k2", 9000, 500, None) == 200
        assert points_caps.member_used(real_redis, INSTANCE, 0, "monthly:2026-03-01", "c1") == 500

    def test_a_later_webhook_about_the_same_earn_on_another_day_counts_nothing(
        self, real_redis: redis.Redis
    ) -> None:
        """The grant is found by the earn's key, not by the event's time."""
        assert reserve(real_redis, "c1", "k1", 300, 500, None) == 300
        later = points_caps.reserve(
            real_redis,
            INSTANCE,
            0,
            "c1",
            "k1",
            300,
            WHEN + timedelta(days=1),
            member_cap=limit(500),
            budget=None,
        )
        assert later == points_caps.Grant(300, None)
        assert points_caps.member_used(real_redis, INSTANCE, 0, "monthly:2026-03-01", "c1") == 300

    def test_the_budget_is_shared_by_all_members(self, real_redis: redis.Redis) -> None:
        assert reserve(real_redis, "c1", "k1", 600, None, 1000) == 600
        assert points_caps.reserve(
            real_redis, INSTANCE, 0, "c2", "k2", 600, WHEN, member_cap=None, budget=limit(1000)
        ) == points_caps.Grant(400, "budget")
        assert points_caps.budget_used(real_redis, INSTANCE, 0, "monthly:2026-03-01") == 1000

    def test_the_counters_expire_after_their_period(self, real_redis: redis.Redis) -> None:
        reserve(real_redis, "c1", "k1", 10, 500, 1000)
        for key in real_redis.scan_iter(match=f"wrw:caps:{{{INSTANCE}}}:*"):
            assert real_redis.ttl(key) > 0, key

    def test_concurrent_reservations_never_overshoot(self, real_redis: redis.Redis, connect) -> None:
        """8 threads, 200 earns of 7 (each sent twice) for one member: exactly min(cap, budget) granted."""
        grants: dict[str, set[int]] = {}
        lock = threading.Lock()

        def work(worker: int) -> None:
            client = connect()
            for n in range(200):
                key = f"k{(n * 8 + worker) % 100}"  # every key reserved by two workers
                points = reserve(client, "c1", key, 7, 500, 450)
                with lock:
                    grants.setdefault(key, set()).add(points)
            client.close()

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert all(len(values) == 1 for values in grants.values())  # every copy got the same grant
        assert sum(next(iter(values)) for values in grants.values()) == 450  # min(cap, budget, 100 x 7)
        assert points_caps.budget_used(real_redis, INSTANCE, 0, "monthly:2026-03-01") == 450


earns = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 15), st.integers(1, 400)),
    min_size=1,
    max_size=40,
)


class TestProperties:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(earns, st.integers(1, 1000), st.integers(1, 2500), st.randoms(use_true_random=False))
    def test_no_order_of_earns_with_duplicates_exceeds_a_cap_or_the_budget(
        self, real_redis: redis.Redis, sent: list[tuple[str, int, int]], cap: int, budget: int, rnd
    ) -> None:
        """Any earns (an idempotency key is one earn of one member), each delivered 1 to 3 times in any
        order: no member past the cap, the rule not past the budget, a key always the same grant, and
        delivering everything again changes no total."""
        real_redis.flushdb()
        firsts: dict[str, tuple[str, int]] = {}
        for contact, n, points in sent:
            firsts.setdefault(f"{contact}:{n}", (contact, points))  # one amount per earn
        deliveries = [key for key in firsts for _ in range(rnd.randint(1, 3))]
        rnd.shuffle(deliveries)
        grants: dict[str, set[int]] = {}
        for key in deliveries:
            contact, points = firsts[key]
            grants.setdefault(key, set()).add(reserve(real_redis, contact, key, points, cap, budget))
        assert all(len(values) == 1 for values in grants.values())
        granted = {key: next(iter(values)) for key, values in grants.items()}
        for contact in ("c1", "c2", "c3"):
            mine = sum(points for key, points in granted.items() if key.startswith(contact + ":"))
            assert mine <= cap
            assert mine == points_caps.member_used(real_redis, INSTANCE, 0, "monthly:2026-03-01", contact)
        assert sum(granted.values()) <= budget
        for key, (contact, points) in firsts.items():  # everything redelivered once more
            assert reserve(real_redis, contact, key, points, cap, budget) == granted[key]
        assert points_caps.budget_used(real_redis, INSTANCE, 0, "monthly:2026-03-01") == sum(granted.values())
