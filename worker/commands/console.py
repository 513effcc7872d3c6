"""`python -m worker console link --instance ID`: a short-lived sign-in link to one site's merchant
console (worker/console/sessions.py), for self-hosters and operators outside Wix."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from worker.identifiers import is_instance_id


def cmd_console_link(args: argparse.Namespace) -> int:
    from worker.console.sessions import LINK_LIFETIME, Refused, check_secret, mint_link
    from worker.settings import get_settings

    if not is_instance_id(args.instance):
        print(f"not an instance id: {args.instance[:100]!r}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        key = check_secret(settings.console_secret.get_secret_value() if settings.console_secret else None)
    except Refused as exc:
        print(exc.message, file=sys.stderr)
        return 1
    base = (settings.public_base_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    print(f"{base}/dashboard/?link={mint_link(key, args.instance, datetime.now(UTC))}")
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    print(f"(opens the console of {args.instance} once within {minutes} minutes)", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    """Add `console link --instance ID` to the CLI's subcommands."""
    console = commands.add_parser("console", help="the merchant console").add_subparsers(
        dest="console_command", required=True
    )
    link = console.add_parser("link", help="print a short-lived sign-in link to one site's console")
    link.add_argument("--instance", required=True, help="the site's instance id")
    link.set_defaults(func=cmd_console_link)
