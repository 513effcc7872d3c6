"""The chaos run, reduced (`make chaos` runs the full one): webhooks at speed from eight senders, a fifth
redelivered, shuffled; pool children SIGKILLed every 2 s, the whole worker once, Redis restarted once
(AOF on), the fake Wix failing 30% of calls when it has the switch. Then: exactly once, everywhere."""

from __future__ import annotations

from tests.integration.conftest import CHAOS_CLIENT_SOCKETS
from worker.dev.chaos import Options, run


@CHAOS_CLIENT_SOCKETS
def test_600_webhooks_under_chaos_are_processed_exactly_once(tmp_path) -> None:
    """Every event settled once, each order counted once, challenge totals equal to the distinct orders,
    each reward issued once in Wix (coupon or points), no points earned twice, nothing stuck."""
    options = Options(
        webhooks=600,
        kill_pool_every=2,
        kill_worker_every=10,
        worker_kills=1,
        redis_restarts=1,
        fault_rate=0.3,
        visibility_timeout=20,
        concurrency=4,
        settle_timeout=240,  # a bound, not a pace: under load (CI, two cores) a run may need over 120 s
        work_dir=tmp_path,
        quiet=True,
    )
    result = run(options)
    print(result.table())
    assert result.chaos.pool_kills >= 1
    assert result.chaos.worker_kills == 1
    assert result.chaos.redis_restarts == 1
    assert result.worker_starts >= 2
    assert result.ok, result.table()
