"""`python -m worker api-keys create|list|revoke`: an instance's API keys (worker/store/api_keys.py).

The key is printed once, on creation; listing shows each key's id (its first characters) and state.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.identifiers import is_instance_id

OPERATOR = "operator (CLI)"


def _store() -> Any:
    from worker.infra.redis_client import store_client
    from worker.settings import get_settings

    return store_client(get_settings())


def _bad_instance(instance_id: str) -> bool:
    if is_instance_id(instance_id):
        return False
    print(f"not an instance id: {instance_id[:100]!r}", file=sys.stderr)
    return True


def cmd_create(args: argparse.Namespace) -> int:
    from worker.store.api_keys import create_api_key

    if _bad_instance(args.instance):
        return 2
    print(create_api_key(_store(), args.instance, who=OPERATOR))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from worker.store.api_keys import describe, list_api_keys

    if _bad_instance(args.instance):
        return 2
    listed = [describe(info) for info in list_api_keys(_store(), args.instance)]
    print(json.dumps(listed, indent=2))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from worker.store.api_keys import describe, revoke_api_key

    if _bad_instance(args.instance):
        return 2
    revoked = revoke_api_key(_store(), args.instance, args.key_id, who=OPERATOR)
    if revoked is None:
        print(f"instance {args.instance} has no API key {args.key_id[:100]!r}", file=sys.stderr)
        return 1
    print(json.dumps(describe(revoked), indent=2))
    return 0


def register(commands: Any) -> None:
    """Add `api-keys create|list|revoke` to the CLI's subcommands."""
    api_keys = commands.add_parser("api-keys", help="an instance's API keys").add_subparsers(
        dest="api_keys_command", required=True
    )
    create = api_keys.add_parser("create", help="create a key (printed once; only its hash is stored)")
    create.add_argument("--instance", required=True)
    create.set_defaults(func=cmd_create)
    listing = api_keys.add_parser("list", help="the keys by id (their first characters), newest first")
    listing.add_argument("--instance", required=True)
    listing.set_defaults(func=cmd_list)
    revoke = api_keys.add_parser("revoke", help="revoke a key at once, by its id (e.g. wrw_AbCd1234)")
    revoke.add_argument("key_id")
    revoke.add_argument("--instance", required=True)
    revoke.set_defaults(func=cmd_revoke)
