"""`python -m worker instances list|show ID`: the sites that installed the app (worker/installs/)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.identifiers import is_instance_id


def _store() -> Any:
    from worker.infra.redis_client import store_client
    from worker.settings import get_settings

    return store_client(get_settings())


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def cmd_instances_list(args: argparse.Namespace) -> int:
    from worker.installs.overview import instances_view

    _print_json(instances_view(_store(), args.offset, args.limit))
    return 0


def cmd_instances_show(args: argparse.Namespace) -> int:
    from worker.installs.overview import instance_view

    if not is_instance_id(args.instance_id):
        print(f"not an instance id: {args.instance_id[:100]!r}", file=sys.stderr)
        return 2
    view = instance_view(_store(), args.instance_id)
    if view is None:
        print(f"no instance {args.instance_id!r} has installed the app", file=sys.stderr)
        return 1
    _print_json(view)
    return 0


def register(commands: Any) -> None:
    """Add `instances list` and `instances show ID` to the CLI's subcommands."""
    instances = commands.add_parser("instances", help="the sites that installed the app").add_subparsers(
        dest="instances_command", required=True
    )
    listing = instances.add_parser("list", help="every site: status, install date, program, embedding")
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--limit", type=int, default=50, help="at most 200")
    listing.set_defaults(func=cmd_instances_list)
    show = instances.add_parser("show", help="one site")
    show.add_argument("instance_id")
    show.set_defaults(func=cmd_instances_show)
