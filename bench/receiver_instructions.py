"""Instructions one webhook costs the receiver, counted by valgrind: a before/after that load cannot blur.

wrk's figures and CPU timings move by a third on a shared machine; instruction counts move by 0.1%. This
runs the receiver's ASGI app in process (no HTTP: uvicorn's share is the same for every checkout) on
uvloop, against REDIS_URL's server, database `--db` (flushed), under `valgrind --tool=callgrind`, and
counts only the thread that posts the measured webhooks (`--toggle-collect=thread_run`): the imports,
the app's start-up and a warm-up run on the main thread first. Redis's own work is not counted (another
process), nor the kernel's.

    python bench/receiver_instructions.py                        # this checkout, one webhook at a time
    python bench/receiver_instructions.py --tree /tmp/main --group 32
    python bench/receiver_instructions.py --bare                 # bench/bare_app.py, the floor

Each run takes a few minutes (valgrind runs Python some 50 times slower); the machine being busy makes
it slower, not different.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200


def _tokens(count: int) -> tuple[str, list[bytes]]:
    """(public key PEM, `count` distinct signed webhooks)."""
    from tests.wix_samples import payment_status_updated
    from worker.wix.webhook_signing import new_private_key, public_pem, sign_webhook

    key = new_private_key()
    tokens = [
        sign_webhook(
            key,
            "wix.ecom.v1.order_payment_status_updated",
            "bench0000-0000-4000-8000-000000000000",
            payment_status_updated(event_id=str(uuid.uuid4())),
        ).encode("ascii")
        for _ in range(count)
    ]
    return public_pem(key), tokens


def _inside(tree: Path, tokens_file: Path, count: int, group: int, bare: bool, redis_url: str) -> None:
    """What runs under valgrind: start the app, warm it up, then post `count` webhooks on a new thread."""
    import redis
    import uvloop

    sys.path[:0] = [str(tree), str(tree / "bench")]
    import receiver_stages

    lines = tokens_file.read_bytes().split(b"\n")
    pem, tokens = lines[0].decode().replace("|", "\n"), [line for line in lines[1:] if line]
    os.environ |= {
        "REDIS_URL": redis_url,
        "WIX_PUBLIC_KEY": pem,
        "WIX_APP_ID": "bench",
        "LOG_LEVEL": "WARNING",
    }
    redis.Redis.from_url(redis_url).flushdb()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def start() -> tuple[Any, Any]:
        if bare:
            import bare_app

            app: Any = bare_app.app
        else:
            from worker.web.app import create_app

            app = create_app()
            app.state.receiver.queue._timeout = 60  # valgrind is slow: never a 503 for that
            sys.modules["worker.web.receiver"].ENQUEUE_TIMEOUT = 60
        stop = await receiver_stages._lifespan_started(app)
        await receiver_stages._Asgi(app).each(tokens[:WARM_UP], group)
        return app, stop

    app, stop = loop.run_until_complete(start())
    poster = receiver_stages._Asgi(app)
    measured = tokens[WARM_UP : WARM_UP + count]
    thread = threading.Thread(target=lambda: loop.run_until_complete(poster.each(measured, group)))
    thread.start()
    thread.join()
    loop.run_until_complete(stop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose receiver is counted")
    parser.add_argument("--count", type=int, default=400, help="measured webhooks (default 400)")
    parser.add_argument("--group", type=int, default=1, help="webhooks posted at once (default 1)")
    parser.add_argument("--bare", action="store_true", help="count bench/bare_app.py instead")
    parser.add_argument("--db", type=int, default=14, help="REDIS_URL's database to flush and use")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # the run under valgrind
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:  # nothing of ours imported yet: the tree's `worker` is the one counted
        _inside(args.tree.resolve(), args.inside, args.count, args.group, args.bare, args.redis_url)
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.webhooks import with_db

    redis_url = with_db(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), args.db)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        pem, tokens = _tokens(WARM_UP + args.count)
        tokens_file = Path(tmp) / "tokens"
        tokens_file.write_bytes(b"\n".join([pem.replace("\n", "|").encode(), *tokens]))
        argv = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=thread_run",
            f"--callgrind-out-file={tmp}/callgrind.out", sys.executable, __file__,
            "--inside", str(tokens_file), "--tree", str(args.tree), "--count", str(args.count),
            "--group", str(args.group), "--redis-url", redis_url, *(["--bare"] if args.bare else []),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None or int(found.group(1)) == 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
    total = int(found.group(1))
    what = "bench/bare_app.py" if args.bare else f"the receiver of {args.tree}"
    print(
        f"{what}: {total / args.count:,.0f} instructions a webhook "
        f"({args.count} webhooks, {args.group} at once)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
