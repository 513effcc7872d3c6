"""`python -m worker wix-app check|show`: the app's extension definitions (`wix-app/`).

The definitions' checker (and jsonschema under it) is imported when one of these commands runs, not on
every start of `python -m worker`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from worker.settings import get_settings


def _secrets() -> list[str]:
    """The service's secrets, which no embedded script parameter may hold."""
    settings = get_settings()
    fields = (settings.wix_app_secret, settings.admin_token, settings.widget_token_secret)
    return [field.get_secret_value() for field in (*fields, settings.external_sync_secret) if field]


def _folder(args: argparse.Namespace) -> Path:
    """The definitions' folder: `--dir`, or the repository's wix-app/."""
    from worker.wixapp import definitions

    return Path(args.dir) if args.dir is not None else definitions.DEFAULT_ROOT


def cmd_check(args: argparse.Namespace) -> int:
    from worker.wixapp import definitions

    folder = _folder(args)
    report = definitions.check(folder, secrets=_secrets())
    for problem in report.problems:
        print(problem)
    for note in report.not_checked:
        print(f"not checked: {note}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    print(f"{folder}: every definition checks out", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from worker.wixapp import definitions, dev_center

    folder = _folder(args)
    report = definitions.check(folder, secrets=_secrets())
    if report.problems:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        print("fix these first (python -m worker wix-app check)", file=sys.stderr)
        return 1
    found = definitions.load(folder)
    print(dev_center.instructions(found, get_settings().public_base_url or "http://localhost:8000"))
    if args.schemas:
        print()
        print(dev_center.schemas(found))
    return 0


def register(commands: Any) -> None:
    """`wix-app check` and `wix-app show` under the CLI's sub-commands."""
    wix_app = commands.add_parser("wix-app", help="what to register in Wix's Dev Center (wix-app/)")
    actions = wix_app.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate every definition against Wix's rules and the code")
    check.add_argument("--dir", help="the definitions (default: the repository's wix-app/)")
    check.set_defaults(func=cmd_check)
    show = actions.add_parser("show", help="what to paste in the Dev Center, step by step (PUBLIC_BASE_URL)")
    show.add_argument("--dir", help="the definitions (default: the repository's wix-app/)")
    show.add_argument("--schemas", action="store_true", help="then print each schema to paste")
    show.set_defaults(func=cmd_show)
