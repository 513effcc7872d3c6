"""`python -m worker loyalty-program ...`: the site's Wix loyalty program (seed 003), as the admin routes
have it (worker.loyalty.program_admin), each command printing Wix's answer as JSON:

    loyalty-program show --instance ID
    loyalty-program update --instance ID [--name NAME] [--points-name NAME] [--icon URL | --icon-id ID]
        [--months-of-inactivity N] [--expiring-points-percentage N]
    loyalty-program activate|pause --instance ID
    loyalty-program expiration enable --instance ID [--months-of-inactivity N]
        [--expiring-points-percentage N]
    loyalty-program expiration disable --instance ID
    loyalty-program premium-features --instance ID

A failure (the Loyalty app not installed, Wix refusing or not answering, a bad value) is one line on
stderr, `error: ...`, and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.loyalty.program_admin import ProgramAdmin

Work = Callable[["ProgramAdmin", str], dict[str, Any]]


def _run(args: argparse.Namespace, work: Work) -> int:
    """`work` on a `ProgramAdmin` of this process (its Redis, its Wix client, a Celery dispatcher)."""
    import redis
    from pydantic import ValidationError

    from worker.identifiers import is_instance_id
    from worker.loyalty.program_admin import ProgramAdmin
    from worker.runtime.dispatcher import CeleryDispatcher
    from worker.runtime.providers import configured_wix, redis_store
    from worker.settings import SettingsError
    from worker.wix.client import WixError

    try:
        if not is_instance_id(args.instance):
            raise ValueError(f"not an instance id: {args.instance!r}")
        wix = configured_wix()
        if wix is None:
            raise SettingsError("WIX_APP_ID and WIX_APP_SECRET are not set: Wix cannot be called")
        answer = work(ProgramAdmin(wix, redis_store(), CeleryDispatcher()), args.instance)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
            for error in exc.errors()
        )
        return _fail(problems)
    except WixError as exc:
        return _fail(exc.message)
    except (SettingsError, ValueError) as exc:
        return _fail(str(exc))
    except redis.RedisError as exc:
        return _fail(f"Redis is unavailable ({type(exc).__name__})")
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _expiration(args: argparse.Namespace) -> dict[str, Any]:
    settings = {
        "monthsOfInactivity": args.months_of_inactivity,
        "expiringPointsPercentage": args.expiring_points_percentage,
    }
    return {name: value for name, value in settings.items() if value is not None}


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The update's body, as the PATCH route takes it, from the flags given."""
    icon = {name: value for name, value in (("url", args.icon), ("id", args.icon_id)) if value}
    definition = {"customName": args.points_name, "icon": icon or None}
    body = {
        "name": args.name,
        "pointDefinition": {k: v for k, v in definition.items() if v is not None} or None,
        "pointsExpiration": _expiration(args) or None,
    }
    return {name: value for name, value in body.items() if value is not None}


def cmd_show(args: argparse.Namespace) -> int:
    return _run(args, lambda admin, instance: admin.show(instance))


def cmd_update(args: argparse.Namespace) -> int:
    from worker.loyalty.program_admin import ProgramChanges

    return _run(
        args, lambda admin, instance: admin.update(instance, ProgramChanges.model_validate(_changes(args)))
    )


def cmd_activate(args: argparse.Namespace) -> int:
    return _run(args, lambda admin, instance: admin.activate(instance))


def cmd_pause(args: argparse.Namespace) -> int:
    return _run(args, lambda admin, instance: admin.pause(instance))


def cmd_expiration_enable(args: argparse.Namespace) -> int:
    from worker.loyalty.program_admin import ExpirationSettings

    return _run(
        args,
        lambda admin, instance: admin.enable_expiration(
            instance, ExpirationSettings.model_validate(_expiration(args))
        ),
    )


def cmd_expiration_disable(args: argparse.Namespace) -> int:
    return _run(args, lambda admin, instance: admin.disable_expiration(instance))


def cmd_premium_features(args: argparse.Namespace) -> int:
    return _run(args, lambda admin, instance: admin.premium_features(instance))


def _expiration_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--months-of-inactivity", type=int, help="months without activity before points expire (1-12)"
    )
    parser.add_argument(
        "--expiring-points-percentage", type=int, help="percent of the points that expire (1-100)"
    )


def register(commands: Any) -> None:
    """Add `loyalty-program` to the CLI's subcommands (`commands`, from `add_subparsers`)."""
    program = commands.add_parser(
        "loyalty-program", help="the site's Wix loyalty program: show, update, activate, pause, expiration"
    ).add_subparsers(dest="action", required=True)

    def command(parent: Any, name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> Any:
        parser = parent.add_parser(name, help=help_text)
        parser.add_argument("--instance", required=True, help="the app instance id (the site)")
        parser.set_defaults(func=func)
        return parser

    command(program, "show", "the program as Wix has it", cmd_show)
    update = command(program, "update", "change the program's name, its points' name and icon", cmd_update)
    update.add_argument("--name", help="the program's name (2-50 characters)")
    update.add_argument("--points-name", help='what the points are called, plural (e.g. "Stars"; at most 20)')
    update.add_argument("--icon", help="the points' icon: an image URL")
    update.add_argument("--icon-id", help="the points' icon: a Wix Media image id")
    _expiration_flags(update)
    command(program, "activate", "activate a DRAFT or PAUSED program", cmd_activate)
    command(program, "pause", "pause an ACTIVE program (points wait until it is activated)", cmd_pause)
    expiration = program.add_parser("expiration", help="points expiration").add_subparsers(
        dest="switch", required=True
    )
    enable = command(expiration, "enable", "turn points expiration on", cmd_expiration_enable)
    _expiration_flags(enable)
    command(expiration, "disable", "turn points expiration off", cmd_expiration_disable)
    command(program, "premium-features", "which premium features the program has", cmd_premium_features)
