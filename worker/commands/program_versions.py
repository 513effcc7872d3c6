"""`python -m worker program draft|publish|versions|diff|rollback --instance ID`: the programme's
lifecycle (worker/store/program_versions.py) from the shell, as the admin routes of
worker/web/admin_program_versions.py answer it. Problems go to standard error with exit status 1."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.identifiers import INSTANCE_MAX_LENGTH, INSTANCE_PATTERN, PATTERN_MEANINGS, is_instance_id
from worker.settings import get_settings


def _client() -> Any:
    from worker.infra.redis_client import store_client

    return store_client(get_settings())


def _run(args: argparse.Namespace, action: Callable[[Any, str], Any]) -> int:
    from worker.engine.program import ProgramInvalid
    from worker.store.program_versions import NoDraft, NoVersion

    if not is_instance_id(args.instance):
        meaning = PATTERN_MEANINGS[INSTANCE_PATTERN]
        print(f"error: --instance {meaning} (at most {INSTANCE_MAX_LENGTH})", file=sys.stderr)
        return 2
    try:
        answer = action(_client(), args.instance)
    except ProgramInvalid as exc:
        for problem in exc.problems:
            print(f"{problem['path']}: {problem['message']}", file=sys.stderr)
        return 1
    except (NoDraft, NoVersion) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, sort_keys=True, default=str))
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from worker.store import program_versions

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    return _run(args, lambda client, i: program_versions.save_draft(client, i, text, args.who))


def cmd_publish(args: argparse.Namespace) -> int:
    from worker.store import program_versions

    return _run(args, lambda client, i: program_versions.publish(client, i, args.who, args.note))


def cmd_versions(args: argparse.Namespace) -> int:
    from worker.store import program_versions

    return _run(args, lambda client, i: program_versions.list_versions(client, i, args.limit))


def cmd_diff(args: argparse.Namespace) -> int:
    from worker.store import program_versions

    return _run(args, lambda client, i: program_versions.diff(client, i, args.old, args.new))


def cmd_rollback(args: argparse.Namespace) -> int:
    from worker.store import program_versions

    return _run(
        args, lambda client, i: program_versions.rollback(client, i, args.version, args.who, args.note)
    )


def _document_name(value: str) -> str:
    if value in ("draft", "live") or (value.isdigit() and len(value) <= 9):
        return value
    raise argparse.ArgumentTypeError("draft, live or a version number")


def register(program: Any) -> None:
    """Add the lifecycle commands to the `program` command group (its subparsers)."""
    specs: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("draft", "validate a YAML or JSON program and keep it as the draft (live untouched)", cmd_draft),
        ("publish", "make the draft live as the next version", cmd_publish),
        ("versions", "the published versions, newest first", cmd_versions),
        ("diff", "what changes from one document to another (draft, live or a version)", cmd_diff),
        ("rollback", "publish an earlier version again as a new version", cmd_rollback),
    ]
    for name, help_text, func in specs:
        parser = program.add_parser(name, help=help_text)
        parser.add_argument("--instance", required=True)
        parser.set_defaults(func=func)
        if name in ("draft", "publish", "rollback"):
            parser.add_argument("--who", default="cli", help="who is acting (the audit log's `who`)")
        if name in ("publish", "rollback"):
            parser.add_argument("--note", default="", help="a note kept with the version")
        if name == "draft":
            parser.add_argument("file")
        if name == "versions":
            parser.add_argument("--limit", type=int, default=20)
        if name == "diff":
            parser.add_argument("old", type=_document_name, metavar="FROM")
            parser.add_argument("new", type=_document_name, metavar="TO")
        if name == "rollback":
            parser.add_argument("version", type=int)
