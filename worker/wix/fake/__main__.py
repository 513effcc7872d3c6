"""`python -m worker.wix.fake`: run the fake Wix, or sign and post a webhook as Wix would.

    python -m worker.wix.fake [serve] --port 9911 [--app-id ID --app-secret SECRET]
        [--private-key PATH] [--public-key-out PATH] [--rate-limit 200] [--require-contacts]
        [--webhook-url http://127.0.0.1:8000/webhooks/wix]
        [--fault-rate 0.3 --fault-seed 42 --fault-kinds 429,500,timeout --fault-stall 0]
    python -m worker.wix.fake send-webhook --to http://127.0.0.1:8000/webhooks/wix
        --type wix.ecom.v1.order_payment_status_updated --instance ID
        [--order-id ID --contact-id ID --total 12.50 --event-id ID --seed-fake http://127.0.0.1:9911]

The server keeps its key pair in `--private-key` (default var/fake-wix/private-key.pem; created when
missing, reused when present, so the service's WIX_PUBLIC_KEY stays valid across restarts) and
writes the public key beside it, or to `--public-key-out`. `send-webhook` signs with that private key.
`--fault-rate` starts it with random faults on, as `POST /_fake/faults {"rate", "seed", "kinds",
"stallSeconds"}` would (see `worker.wix.fake.traffic.RandomFaults`). `--webhook-url` is where the fake
posts the webhooks it sends itself (a `program_updated` after a program change), as `PATCH
/_fake/settings {"webhookUrl"}` would.
The app id and secret default to WIX_APP_ID and WIX_APP_SECRET, so the service's own settings work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from pathlib import Path

import httpx

from worker.wix.fake.payloads import BUILDERS, ORDER_EVENT_TYPES, EventOptions, build_payload
from worker.wix.fake.webhooks import (
    DEFAULT_PRIVATE_KEY,
    load_or_create_private_key,
    load_private_key,
    post_webhook,
    write_public_key,
)
from worker.wix.webhook_signing import sign_webhook

DEFAULT_APP_ID = "fake-wix-app-id"
DEFAULT_APP_SECRET = "fake-wix-app-secret"  # noqa: S105  (the fake's development default)


def _not_a_dropped_connection(record: logging.LogRecord) -> bool:
    """Uvicorn logs the exception that drops an injected timeout's connection; it is no error."""
    from worker.wix.fake.front import DroppedConnection

    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from worker.wix.fake import FakeSettings, FakeWix, create_app
    from worker.wix.fake.traffic import FAULT_KINDS

    private_path = Path(args.private_key)
    key = load_or_create_private_key(private_path)
    public_path = (
        Path(args.public_key_out) if args.public_key_out else private_path.with_name("public-key.pem")
    )
    write_public_key(key, public_path)
    settings = FakeSettings(
        app_id=args.app_id,
        app_secret=args.app_secret,
        rate_limit_per_minute=args.rate_limit,
        require_contacts=args.require_contacts,
        webhook_url=args.webhook_url,
    )
    fake = FakeWix(settings, key, public_key_path=str(public_path.resolve()))
    if args.fault_rate:
        kinds = tuple(kind.strip() for kind in args.fault_kinds.split(",") if kind.strip())
        if not kinds or any(kind not in FAULT_KINDS for kind in kinds):
            print(f"--fault-kinds: a comma-separated list of {', '.join(FAULT_KINDS)}", file=sys.stderr)
            return 2
        fake.random_faults.configure(args.fault_rate, args.fault_seed, kinds, stall_seconds=args.fault_stall)
        print(f"random faults: {fake.random_faults.public()}", flush=True)
    logging.getLogger("uvicorn.error").addFilter(_not_a_dropped_connection)
    print(f"fake Wix listening on http://{args.host}:{args.port} (app id {args.app_id})", flush=True)
    print(f"public key: {public_path.resolve()}", flush=True)
    print(f"private key: {private_path.resolve()}", flush=True)
    uvicorn.run(create_app(fake), host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def send_webhook(args: argparse.Namespace) -> int:
    key_path = Path(args.private_key)
    if not key_path.exists():
        print(f"no private key at {key_path}: start the fake first, or pass --private-key", file=sys.stderr)
        return 2
    fulfillment = args.fulfillment_status or (
        "FULFILLED" if args.type == "wix.ecom.v1.fulfillments_updated" else "NOT_FULFILLED"
    )
    options = EventOptions(
        event_id=args.event_id or str(uuid.uuid4()),
        order_id=args.order_id,
        contact_id=args.contact_id,
        total=args.total,
        currency=args.currency,
        payment_status=args.payment_status,
        fulfillment_status=fulfillment,
        checkout_id=args.checkout_id,
        points=args.points,
        app_id=args.app_id,
        coupon_code=args.coupon_code,
    )
    payload = build_payload(args.type, options)
    key = load_private_key(key_path)
    if args.print_token:
        print(sign_webhook(key, args.type, args.instance, payload))
        return 0
    try:
        if args.seed_fake and args.type in ORDER_EVENT_TYPES:
            seeded = httpx.post(
                f"{args.seed_fake.rstrip('/')}/_fake/instances/{args.instance}/orders",
                json=options.order(),
                timeout=args.timeout,
            )
            seeded.raise_for_status()
        response = post_webhook(args.to, key, args.type, args.instance, payload, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"could not deliver: {exc}", file=sys.stderr)
        return 2
    print(f"{response.status_code} {response.text}")
    return 0 if response.status_code == 200 else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m worker.wix.fake", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command")

    run = commands.add_parser("serve", help="run the fake Wix (the default command)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=9911)
    run.add_argument("--app-id", default=os.environ.get("WIX_APP_ID") or DEFAULT_APP_ID)
    run.add_argument("--app-secret", default=os.environ.get("WIX_APP_SECRET") or DEFAULT_APP_SECRET)
    run.add_argument("--private-key", default=str(DEFAULT_PRIVATE_KEY), help="PEM; created when missing")
    run.add_argument(
        "--public-key-out", help="where to write the public key PEM (default: beside the private key)"
    )
    run.add_argument("--rate-limit", type=int, default=200, help="requests a minute per instance; 0 for none")
    run.add_argument("--require-contacts", action="store_true", help="accounts only for seeded contacts")
    run.add_argument("--webhook-url", help="where to post the webhooks the fake sends (program_updated)")
    run.add_argument("--fault-rate", type=float, default=0.0, help="fraction of Wix calls that fail (0-1)")
    run.add_argument("--fault-seed", type=int, help="seed of the random faults (default: a random one)")
    run.add_argument("--fault-kinds", default="429,500,timeout", help="which faults, comma-separated")
    run.add_argument(
        "--fault-stall", type=float, default=0.0, help="seconds a timeout holds its answer before dropping"
    )
    run.add_argument("--log-level", default="warning")
    run.set_defaults(handler=serve)

    send = commands.add_parser("send-webhook", help="sign an event as Wix does and POST it")
    send.add_argument("--to", required=True, help="the receiver, e.g. http://127.0.0.1:8000/webhooks/wix")
    send.add_argument(
        "--type",
        required=True,
        choices=sorted(BUILDERS),
        metavar="EVENT_TYPE",
        help=f"the envelope eventType: {', '.join(sorted(BUILDERS))}",
    )
    send.add_argument("--instance", required=True, help="the app instance id")
    defaults = EventOptions(event_id="")
    send.add_argument("--event-id", help="the inner payload id (default: a new uuid)")
    send.add_argument("--order-id", default=defaults.order_id)
    send.add_argument("--contact-id", default=defaults.contact_id)
    send.add_argument("--total", default=defaults.total, help="the order total, e.g. 12.50")
    send.add_argument("--currency", default=defaults.currency)
    send.add_argument("--payment-status", default=defaults.payment_status)
    send.add_argument(
        "--fulfillment-status", help="default FULFILLED for fulfillments_updated, else NOT_FULFILLED"
    )
    send.add_argument("--checkout-id")
    send.add_argument("--coupon-code", help="a coupon the order (or checkout) used: its appliedDiscounts")
    send.add_argument("--points", type=int, default=defaults.points, help="for account_points_updated")
    send.add_argument("--app-id", default=os.environ.get("WIX_APP_ID", ""), help="for AppInstalled")
    send.add_argument("--private-key", default=str(DEFAULT_PRIVATE_KEY), help="the fake's private key PEM")
    send.add_argument("--seed-fake", metavar="URL", help="store the order in this fake Wix first")
    send.add_argument("--timeout", type=float, default=10.0)
    send.add_argument("--print-token", action="store_true", help="print the signed JWT instead of posting")
    send.set_defaults(handler=send_webhook)
    return root


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in ("serve", "send-webhook", "-h", "--help"):
        arguments.insert(0, "serve")
    args = parser().parse_args(arguments)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
