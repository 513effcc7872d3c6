"""`python -m worker`: run the service and operate it (events, dead letters)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.commands import api_keys as api_keys_commands
from worker.commands import console as console_commands
from worker.commands import instances as instances_commands
from worker.commands import loyalty_program as loyalty_program_commands
from worker.commands import members as members_commands
from worker.commands import program_versions as program_versions_commands
from worker.commands import site_settings as site_settings_commands
from worker.commands import store as store_commands
from worker.commands import wix_app
from worker.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _store() -> Any:
    from worker.infra.redis_client import store_client

    return store_client(get_settings())


def cmd_run(args: argparse.Namespace) -> int:
    """Run the Procfile's processes under `worker.infra.supervisor` (each restarted with backoff when it
    exits); start an embedded Redis first if REDIS_URL is unset."""
    from worker.infra.embedded_redis import EmbeddedRedis
    from worker.infra.supervisor import Supervisor, read_procfile

    settings = get_settings()
    settings.check_for_production()
    processes = read_procfile(Path(args.procfile))
    Path("var").mkdir(exist_ok=True)  # beat keeps its schedule there
    # The Procfile's commands (celery, python) come from this environment, activated or not.
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PORT=str(settings.port),
    )
    embedded = None
    if not (settings.store_address and settings.broker_address):  # REDIS_URL, or what it defaults
        embedded = EmbeddedRedis(
            Path(env.get("EMBEDDED_REDIS_DIR", "var/redis")), port=settings.embedded_redis_port
        )
        env["REDIS_URL"] = embedded.start()
        print(
            f"REDIS_URL is not set: started an embedded Redis at {env['REDIS_URL']} "
            f"(data in {embedded.data_dir}/, AOF on)",
            flush=True,
        )
    try:
        return Supervisor(processes, env).run()
    finally:
        if embedded is not None:
            embedded.stop()


def web_app() -> FastAPI:
    """The web app with this service's logging: what each of uvicorn's processes serves (its factory)."""
    from worker.infra.log_config import configure_logging
    from worker.web.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.is_production)
    return create_app(settings)


def cmd_web(_: argparse.Namespace) -> int:
    """The web process under uvicorn; with `WEB_PROCESSES` > 1, that many on one port, their /metrics
    summed (worker/runtime/metrics.py). uvicorn's access log (a line per request, which on the webhook
    path costs time and floods the logs) is on only at `LOG_LEVEL=DEBUG`; its lines drop query strings
    (worker/infra/log_config.py)."""
    import uvicorn

    from worker.runtime.metrics import MULTIPROCESS_DIR, fresh_multiprocess_dir

    settings = get_settings()
    port = int(os.environ.get("PORT", settings.port))
    access_log = settings.log_level.upper() == "DEBUG"
    if settings.web_processes == 1 and not os.environ.get(MULTIPROCESS_DIR):
        uvicorn.run(web_app(), host="0.0.0.0", port=port, log_config=None, access_log=access_log)
        return 0
    directory, made_here = fresh_multiprocess_dir()
    os.environ[MULTIPROCESS_DIR] = str(directory)  # uvicorn's processes inherit it
    try:
        uvicorn.run(
            "worker.cli:web_app",
            factory=True,
            workers=settings.web_processes,
            host="0.0.0.0",
            port=port,
            log_config=None,
            access_log=access_log,
        )
    finally:
        if made_here:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def flower_command(settings: Settings) -> list[str]:
    """Flower on `FLOWER_ADDRESS` (default 127.0.0.1: its /metrics and /healthcheck have no auth)."""
    return [
        sys.executable, "-m", "celery", "-A", "worker", "flower",
        f"--address={settings.flower_address}", f"--port={settings.flower_port}",
    ]  # fmt: skip


def cmd_flower(_: argparse.Namespace) -> int:
    settings = get_settings()
    auth = settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else ""
    if not auth:
        if settings.is_production:
            raise SettingsError("FLOWER_BASIC_AUTH is not set (required when WORKER_ENV=production)")
        auth = "admin:admin"
        print("FLOWER_BASIC_AUTH is not set: Flower uses admin:admin (development only)", flush=True)
    # Flower reads the credentials from its environment, so they never appear in `ps`.
    env = dict(os.environ, FLOWER_BASIC_AUTH=auth)
    command = flower_command(settings)
    os.execve(command[0], command, env)
    return 0  # not reached


def cmd_events_show(args: argparse.Namespace) -> int:
    from worker.store.journal import EventJournal

    journal = EventJournal(_store(), get_settings().event_journal_ttl_seconds)
    record = journal.get(args.instance, args.event_id) if args.instance else journal.find(args.event_id)
    if record is None:
        print(f"no record of event {args.event_id}", file=sys.stderr)
        return 1
    _print_json(record)
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from worker.store.dead_letters import DeadLetters

    dead_letters = DeadLetters(_store())
    if args.action == "list":
        _print_json(dead_letters.list())
        return 0
    if args.action == "purge":
        print(f"purged {dead_letters.purge()} dead letters")
        return 0
    # replay
    from worker.runtime.dispatcher import replay

    if args.all:
        entries = dead_letters.list()
    elif args.id:
        entry = dead_letters.get(args.id)
        if entry is None:
            print(f"no dead letter {args.id}", file=sys.stderr)
            return 1
        entries = [entry]
    else:
        print("dlq replay needs an ID or --all", file=sys.stderr)
        return 2
    for entry in entries:
        # Send first, then remove: a crash in between replays twice, which idempotent tasks absorb.
        replay(entry)
        dead_letters.remove(entry["id"])
        print(f"replayed {entry['id']} ({entry['task']})")
    return 0


def cmd_program_apply(args: argparse.Namespace) -> int:
    from worker.engine.program import ProgramInvalid
    from worker.store.progress import ProgressStore
    from worker.web.admin import apply_program

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        applied = apply_program(ProgressStore(_store()), args.instance, text)
    except ProgramInvalid as exc:
        for problem in exc.problems:
            print(f"{problem['path']}: {problem['message']}", file=sys.stderr)
        return 1
    print(f"program version {applied['version']} applied to instance {args.instance}")
    return 0


def cmd_api_key_create(args: argparse.Namespace) -> int:
    from worker.store.api_keys import create_api_key

    print(create_api_key(_store(), args.instance))
    return 0


def _jobs() -> Any:
    from worker.jobs.registry import KINDS
    from worker.jobs.runner import Jobs

    return Jobs(_store(), KINDS)


def _follow(job_id: str, poll_seconds: float = 0.5) -> int:
    """A live progress bar until the job ends; 0 when it succeeded."""
    import time

    from tqdm import tqdm

    jobs = _jobs()
    record = jobs.get(job_id)
    if record is None:
        print(f"no job {job_id}", file=sys.stderr)
        return 1
    with tqdm(desc=f"{record['name']} {job_id}", unit="item") as bar:
        while True:
            record = jobs.get(job_id)
            if record is None:
                return 1
            bar.total = record["total"]
            bar.n = record["done"] + record["skipped"] + record["failed"]
            bar.set_postfix(done=record["done"], skipped=record["skipped"], failed=record["failed"])
            bar.refresh()
            if record["status"] != "running":
                break
            time.sleep(poll_seconds)
    _print_json(record)
    return 0 if record["status"] == "succeeded" else 1


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from worker.jobs.registry import job_queue
    from worker.jobs.runner import UnknownJob
    from worker.runtime.dispatcher import CeleryDispatcher

    try:
        record, new = _jobs().start(args.instance, args.name, args.since)
    except UnknownJob as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if new:
        CeleryDispatcher().run_job(record["id"], job_queue(args.name))
    else:
        print(f"{args.name} is already running for {args.instance}: following {record['id']}")
    return _follow(record["id"])


def cmd_jobs_show(args: argparse.Namespace) -> int:
    record = _jobs().get(args.job_id)
    if record is None:
        print(f"no job {args.job_id}", file=sys.stderr)
        return 1
    if record["status"] == "running":
        return _follow(args.job_id)
    _print_json(record)
    return 0


def cmd_demo(_: argparse.Namespace) -> int:
    from worker.dev.demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run everything, each process restarted when it exits (`make run`)")
    run.add_argument("--procfile", default="Procfile", help="the processes to run (default: ./Procfile)")
    run.set_defaults(func=cmd_run)
    commands.add_parser("web", help="run the web receiver").set_defaults(func=cmd_web)
    commands.add_parser("flower", help="run Flower behind basic auth").set_defaults(func=cmd_flower)
    commands.add_parser("demo", help="the product end to end against a local fake Wix").set_defaults(
        func=cmd_demo
    )

    events = commands.add_parser("events", help="the event journal").add_subparsers(
        dest="action", required=True
    )
    show = events.add_parser("show", help="what became of a webhook event")
    show.add_argument("event_id")
    show.add_argument("--instance", help="the instance id (faster; otherwise every instance is searched)")
    show.set_defaults(func=cmd_events_show)

    program = commands.add_parser("program", help="the instance's program").add_subparsers(
        dest="action", required=True
    )
    apply = program.add_parser("apply", help="validate a YAML or JSON program and make it the instance's")
    apply.add_argument("file")
    apply.add_argument("--instance", required=True)
    apply.set_defaults(func=cmd_program_apply)
    program_versions_commands.register(program)

    api_key = commands.add_parser("api-key", help="instance API keys").add_subparsers(
        dest="action", required=True
    )
    create = api_key.add_parser("create", help="create a key (printed once; only its hash is stored)")
    create.add_argument("--instance", required=True)
    create.set_defaults(func=cmd_api_key_create)

    jobs = commands.add_parser("jobs", help="bulk and periodic jobs").add_subparsers(
        dest="action", required=True
    )
    run = jobs.add_parser("run", help="start a job (or follow the running one) with a live progress bar")
    run.add_argument("name")
    run.add_argument("--instance", required=True)
    run.add_argument("--since", help="ISO-8601 time the job starts from, where it takes one")
    run.set_defaults(func=cmd_jobs_run)
    show = jobs.add_parser("show", help="a job's record (followed live while it runs)")
    show.add_argument("job_id")
    show.set_defaults(func=cmd_jobs_show)

    dlq = commands.add_parser("dlq", help="the dead-letter queue")
    dlq.add_argument("action", choices=["list", "replay", "purge"])
    dlq.add_argument("id", nargs="?", help="the entry to replay")
    dlq.add_argument("--all", action="store_true", help="replay every entry")
    dlq.set_defaults(func=cmd_dlq)
    site_settings_commands.register(commands)
    wix_app.register(commands)
    loyalty_program_commands.register(commands)
    members_commands.register(commands)
    instances_commands.register(commands)
    console_commands.register(commands)
    store_commands.register(commands)
    api_keys_commands.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
