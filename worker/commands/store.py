"""`python -m worker store upgrade-layout`: rename keys written before the Redis Cluster layout
(worker/store/key_layout.py)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_upgrade_layout(args: argparse.Namespace) -> int:
    from worker.infra.redis_client import store_client
    from worker.settings import get_settings
    from worker.store.key_layout import LayoutError, upgrade

    try:
        result = upgrade(store_client(get_settings()))
    except LayoutError as error:
        print(error)
        return 2
    print(f"renamed {result.renamed} keys to the instance-tagged layout")
    if result.marks_copied:
        print(f"copied {result.marks_copied} console action marks under their instance's tag")
    if result.dropped:
        print(f"deleted {result.dropped} short-lived copies kept under their old names")
    for key in result.left:
        print(f"left alone (its new name exists already): {key}")
    return 1 if result.left else 0


def register(commands: Any) -> None:
    store = commands.add_parser("store", help="the store's keys").add_subparsers(dest="action", required=True)
    store.add_parser(
        "upgrade-layout", help="rename keys written before the Redis Cluster layout (once, service stopped)"
    ).set_defaults(func=cmd_upgrade_layout)
