"""Web handlers stay as thin as the receiver (issue 12): every route body in `worker/web/` under 15 lines,
`wix_actions.py` under 200 lines and `widget.py` under 250. The routes are the ones registered on the
app's routers, each read from its own source."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.routing import APIRoute, APIRouter

import worker.web
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.web.app import create_app

MAX_BODY_LINES = 15  # a route body must stay under this
MODULE_LIMITS = {"wix_actions.py": 200, "widget.py": 250}  # lines, each module under its limit
WEB = Path(worker.web.__file__).resolve().parent


def body_lines(function: Callable[..., Any]) -> int:
    return source_body_lines(textwrap.dedent(inspect.getsource(function)))


def source_body_lines(source: str) -> int:
    """The lines from a function's first statement to its last, its docstring left out."""
    tree = ast.parse(source)
    definition = tree.body[0]
    assert isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef))
    body = definition.body
    if ast.get_docstring(definition) is not None:
        body = body[1:]
    if not body:
        return 0
    end = body[-1].end_lineno
    assert end is not None
    return end - body[0].lineno + 1


def web_routes() -> list[APIRoute]:
    """Every route of every router in a module of `worker/web/` or its sub-packages (the console's), new
    modules included."""
    routes: dict[Callable[..., Any], APIRoute] = {}
    for module_info in pkgutil.walk_packages(worker.web.__path__, "worker.web."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                routes.update(
                    (route.endpoint, route) for route in value.routes if isinstance(route, APIRoute)
                )
    return list(routes.values())


ROUTES = web_routes()


class TestRouteBodies:
    def test_every_route_the_app_serves_is_measured(self) -> None:
        """Not a vacuous pass: every path the app serves is a route measured here, the receiver's, admin,
        records, Wix actions, widget and ops routes among them."""
        modules = {route.endpoint.__module__ for route in ROUTES}
        assert {
            "worker.web.receiver",
            "worker.web.admin",
            "worker.web.records",
            "worker.web.wix_actions",
            "worker.web.widget",
            "worker.web.ops",
            "worker.web.console.routes",
        } <= modules
        app = create_app(
            Settings(redis_url="redis://unused", _env_file=None),  # type: ignore[call-arg]
            async_redis=fakeredis.FakeAsyncRedis(),
            store=fakeredis.FakeRedis(),
            follow_ups=RecordedDispatcher(),
        )
        served = set(app.openapi()["paths"])
        assert served <= {route.path for route in ROUTES}
        assert len(served) >= 15

    @pytest.mark.parametrize(
        "route",
        ROUTES,
        ids=lambda route: f"{route.endpoint.__module__}.{route.endpoint.__name__}",
    )
    def test_a_route_body_is_under_15_lines(self, route: APIRoute) -> None:
        """A route reads its input, calls the domain and answers; anything longer belongs below it."""
        lines = body_lines(route.endpoint)
        assert lines < MAX_BODY_LINES, (
            f"{route.endpoint.__module__}.{route.endpoint.__name__} ({', '.join(sorted(route.methods))} "
            f"{route.path}) has a {lines}-line body; move what is not the route's into a module below it"
        )

    def test_the_measure_counts_a_long_body_and_leaves_out_the_docstring(self) -> None:
        """The count the limit relies on: statements from first to last, the docstring not among them."""
        docstring = '    """A docstring\n    on two lines."""\n'
        assert source_body_lines("def f() -> None:\n" + docstring + "    x = 1\n" * 15) == 15
        wrapped = "async def f() -> None:\n    return g(\n        1,\n        2,\n    )\n"
        assert source_body_lines(wrapped) == 4


class TestModuleSizes:
    @pytest.mark.parametrize(("name", "limit"), sorted(MODULE_LIMITS.items()))
    def test_the_module_stays_under_its_limit(self, name: str, limit: int) -> None:
        """wix_actions.py under 200 lines, widget.py under 250: what grows moves to its own module."""
        lines = len((WEB / name).read_text(encoding="utf-8").splitlines())
        assert lines < limit, f"worker/web/{name} has {lines} lines (the limit is under {limit})"
