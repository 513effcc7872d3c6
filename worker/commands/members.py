"""`python -m worker members erase --instance ID --contact ID`: erase one member's personal data by hand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.settings import get_settings


def cmd_members_erase(args: argparse.Namespace) -> int:
    from worker.identifiers import InvalidIdentifier
    from worker.infra.redis_client import store_client
    from worker.members.erasure import check_ids, erase_member

    try:
        check_ids(args.instance, args.contact)
    except InvalidIdentifier as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = erase_member(store_client(get_settings()), args.instance, args.contact)
    print(json.dumps({"instanceId": args.instance, "erased": counts}, indent=2, sort_keys=True))
    return 0


def register(commands: Any) -> None:
    """Add `members` to the parser's subcommands."""
    members = commands.add_parser("members", help="a member's personal data").add_subparsers(
        dest="action", required=True
    )
    erase = members.add_parser(
        "erase", help="erase a member's data (as contact_deleted does); answers what was erased, as counts"
    )
    erase.add_argument("--instance", required=True)
    erase.add_argument("--contact", required=True, help="the member's Wix contact id")
    erase.set_defaults(func=cmd_members_erase)
