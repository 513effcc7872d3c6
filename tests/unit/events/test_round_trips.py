"""The worker's Redis round trips per event: each one is a wait, and a worker's events per second (and how
far more worker processes scale) follow from them. Counted on a real Redis (tests/redis_round_trips.py)."""

from __future__ import annotations

import uuid

from tests.redis_round_trips import BUDGET, counting_client, events, measure, prepare

README = 'README "Round trips per event"'


class TestRoundTripBudget:
    def test_each_event_kind_stays_within_its_documented_budget(self, real_redis, redis_url) -> None:
        """A paid order with rewards and points, a checkout and a new member each take no more round
        trips than the budget the README documents, and still do all their work."""
        client, traffic = counting_client(redis_url)
        prepare(client)
        measured = measure(client, traffic, events(f"contact-{uuid.uuid4()}"))
        assert [m.outcome for m in measured.values()] == ["processed"] * 3
        paid = measured["paid order"].dispatcher
        assert (len(paid.sent), len(paid.reports), len(paid.earns)) == (2, 2, 1)  # fulfil, report, earn
        assert [len(measured[kind].dispatcher.earns) for kind in ("checkout", "member created")] == [1, 1]
        for kind, budget in BUDGET.items():
            assert measured[kind].round_trips <= budget, (
                f"{kind}: {measured[kind].round_trips} Redis round trips, over its budget of {budget} "
                f"({README} documents it; a worker's throughput follows from it). Each round trip:\n"
                f"{measured[kind].detail}"
            )

    def test_a_redelivered_event_is_recognised_in_one_round_trip(self, real_redis, redis_url) -> None:
        """An event already settled (Wix's redelivery, a task run twice) is left alone after the first look:
        one round trip, nothing sent again."""
        client, traffic = counting_client(redis_url)
        prepare(client)
        sent = events(f"contact-{uuid.uuid4()}")
        measure(client, None, sent)
        again = measure(client, traffic, sent)
        assert {kind: (m.outcome, m.round_trips) for kind, m in again.items()} == {
            kind: ("already_settled", 1) for kind in BUDGET
        }
        assert not any(m.dispatcher.sent or m.dispatcher.earns for m in again.values())


class TestOnRedisCluster:
    def test_the_fewer_round_trips_cross_no_slot(self, cluster_store) -> None:
        """The same events on a three-node Redis Cluster: every pipeline and MULTI of theirs is routed by
        slot (a MULTI or Lua call across slots would fail), and they do the same work."""
        prepare(cluster_store)
        measured = measure(cluster_store, None, events(f"contact-{uuid.uuid4()}"))
        assert [m.outcome for m in measured.values()] == ["processed"] * 3
        paid = measured["paid order"].dispatcher
        assert (len(paid.sent), len(paid.reports), len(paid.earns)) == (2, 2, 1)
