"""`make bench`, round trips: the Redis round trips (and commands) the worker takes for one event of each
main kind, and the events per second one process gets through `process_event`, for this checkout and, with
`--baseline-tree DIR`, another checkout (e.g. `git worktree add /tmp/rt-base main`) in the same run.

Each kind is the event task's processing of a new member's paid order (a streak and a challenge with a
milestone at the first order: two reward logs, their reports and fulfilments, a points earn), checkout
and sign-up (`tests/redis_round_trips.py`); follow-up tasks are kept by a recorded dispatcher. Round trips
are counted on the client's connection; the rate is `--events` paid orders one after another (each for
one of 100 members), best of `--rounds`, the trees taking turns. Uses REDIS_URL's database (flushed), or
an embedded Redis.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "tests" / "redis_round_trips.py"


def _helper(tree: Path) -> ModuleType:
    """This checkout's counting helper, run against `tree`'s worker (a baseline has no helper of its own)."""
    sys.path.insert(0, str(tree))
    spec = importlib.util.spec_from_file_location("redis_round_trips", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["redis_round_trips"] = module
    spec.loader.exec_module(module)
    return module


def measure_tree(tree: Path, url: str, events: int) -> dict[str, object]:
    """In this process, against `tree`'s worker: each kind's round trips and commands, a paid-order rate."""
    helper = _helper(tree)
    client, traffic = helper.counting_client(url)
    client.flushdb()
    helper.prepare(client)
    counts = {
        kind: [m.round_trips, m.commands, m.detail]
        for kind, m in helper.measure(client, traffic, helper.events("contact-rt")).items()
    }
    plain = helper.sync_client(url)  # the rate without the counting
    paid = [helper.events(f"member-{n % 100}")[:1] for n in range(events)]
    started = time.perf_counter()
    for sent in paid:
        helper.measure(plain, None, sent)
    rate = events / (time.perf_counter() - started)
    client.flushdb()
    return {"counts": counts, "rate": rate}


def run_tree(tree: Path, url: str, events: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(tree), "--events", str(events)],
        cwd=tree,
        env={**os.environ, "REDIS_URL": url, "PYTHONPATH": str(tree), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--events", type=int, default=300, help="paid orders per rate round (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rate rounds per tree (default 3)")
    parser.add_argument("--detail", action="store_true", help="print each round trip of each kind")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_tree(args.measure, os.environ["REDIS_URL"], args.events)))
        return 0
    trees = {"this tree": ROOT, **({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})}
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        from worker.infra.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wrw-bench-rt-")), persistent=False)
        url = embedded.start()
    results: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
    try:
        for _ in range(args.rounds):  # the trees take turns, so a neighbour's burst hits both alike
            for name, tree in trees.items():
                results[name].append(run_tree(tree, url, args.events))
    finally:
        if embedded is not None:
            embedded.stop()
    print("round trips: one event of each kind through process_event (a new member; commands in brackets)")
    names = list(trees)
    for kind in results[names[0]][0]["counts"]:  # type: ignore[attr-defined]
        cells = []
        for name in names:
            trips, commands, _ = results[name][0]["counts"][kind]  # type: ignore[index]
            cells.append(f"{name} {trips:3} ({commands})")
        print(f"  {kind:15} " + "   ".join(cells))
    print(f"events/s, one process, paid orders one after another (best of {args.rounds}; all rounds):")
    for name in names:
        rates = [float(r["rate"]) for r in results[name]]  # type: ignore[arg-type]
        print(f"  {name:10} {max(rates):7.0f}   ({', '.join(f'{r:.0f}' for r in rates)})")
    if len(names) == 2:
        best = [max(float(r["rate"]) for r in results[name]) for name in names]  # type: ignore[arg-type]
        print(f"  this tree / baseline: {best[0] / best[1]:.2f}x")
    if args.detail:
        for name in names:
            for kind, (_, _, detail) in results[name][0]["counts"].items():  # type: ignore[attr-defined]
                print(f"{name}, {kind}:\n{detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
