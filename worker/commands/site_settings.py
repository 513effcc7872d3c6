"""`python -m worker site-settings show|set --instance ID`: an instance's own settings (the admin route's
`GET|PATCH /admin/v1/instances/{id}/settings`, worker/web/admin_settings.py).

`set` takes the fields to change (`--sync-url`, `--sync-secret`, `--sync-match-by`, `--auto-bootstrap`,
`--reward-expiring-notice-days`) and `--clear FIELD` for those to give back to the default. `--sync-secret -`
reads the secret from standard input, so it stays out of the shell's history and the process list. Both
print the settings as the route answers them, the secret masked.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from worker.identifiers import INSTANCE_MAX_LENGTH, INSTANCE_PATTERN, PATTERN_MEANINGS, is_instance_id
from worker.settings import get_settings

# The command-line option of each field (`--clear` takes the same names).
OPTIONS = {
    "sync-url": "syncUrl",
    "sync-secret": "syncSecret",
    "sync-match-by": "syncMatchBy",
    "auto-bootstrap": "autoBootstrap",
    "reward-expiring-notice-days": "rewardExpiringNoticeDays",
}


def _client() -> Any:
    from worker.infra.redis_client import store_client

    return store_client(get_settings())


def _print(answer: dict[str, Any]) -> None:
    print(json.dumps(answer, indent=2, sort_keys=True))


def _instance(args: argparse.Namespace) -> str | None:
    if is_instance_id(args.instance):
        return str(args.instance)
    meaning = PATTERN_MEANINGS[INSTANCE_PATTERN]
    print(f"error: --instance {meaning} (at most {INSTANCE_MAX_LENGTH})", file=sys.stderr)
    return None


def changes_of(args: argparse.Namespace) -> dict[str, Any]:
    """The change the options ask for: each field given a value, each cleared field None."""
    changes: dict[str, Any] = {}
    for option, name in OPTIONS.items():
        value = getattr(args, option.replace("-", "_"))
        if value is not None:
            changes[name] = value
    if changes.get("syncSecret") == "-":
        changes["syncSecret"] = sys.stdin.readline().strip()
    if "autoBootstrap" in changes:
        changes["autoBootstrap"] = changes["autoBootstrap"] == "true"
    both = [option for option in args.clear or [] if OPTIONS[option] in changes]
    if both:
        raise ValueError(f"--{both[0]} is both set and cleared")
    changes.update({OPTIONS[option]: None for option in args.clear or []})
    return changes


def cmd_show(args: argparse.Namespace) -> int:
    from worker.store.site_settings import describe, site_settings_for

    instance_id = _instance(args)
    if instance_id is None:
        return 2
    _print(describe(site_settings_for(_client(), instance_id, get_settings())))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from worker.store.site_settings import (
        SiteSettingsPatch,
        describe,
        site_settings_for,
        update_site_settings,
    )

    instance_id = _instance(args)
    if instance_id is None:
        return 2
    try:
        patch = SiteSettingsPatch.model_validate(changes_of(args))
    except ValueError as exc:  # pydantic's ValidationError too; its messages never quote a value
        problems = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        for problem in problems:
            where = ".".join(str(part) for part in problem["loc"])
            print(
                f"error: {where + ': ' if where else ''}{problem['msg']} (nothing was changed)",
                file=sys.stderr,
            )
        return 1
    client = _client()
    update_site_settings(client, instance_id, patch)
    _print(describe(site_settings_for(client, instance_id, get_settings())))
    return 0


def register(commands: Any) -> None:
    """Add `site-settings show|set` to the CLI's subcommands."""
    site = commands.add_parser("site-settings", help="an instance's own settings (over the environment's)")
    actions = site.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="each setting, the site's or the default, the secret masked")
    show.add_argument("--instance", required=True)
    show.set_defaults(func=cmd_show)
    change = actions.add_parser("set", help="set or clear the instance's own settings")
    change.add_argument("--instance", required=True)
    change.add_argument("--sync-url", help="where the instance's points changes are sent (http or https)")
    change.add_argument("--sync-secret", help="its whsec_ secret; `-` reads it from standard input")
    change.add_argument("--sync-match-by", choices=["email", "contactId"])
    change.add_argument("--auto-bootstrap", choices=["true", "false"])
    change.add_argument("--reward-expiring-notice-days", type=int)
    change.add_argument(
        "--clear",
        action="append",
        choices=list(OPTIONS),
        help="give a field back to the default (repeatable)",
    )
    change.set_defaults(func=cmd_set)
