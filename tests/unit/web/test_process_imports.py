"""The web process sends tasks by name and never imports the Celery app or a task module."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from worker.web.app import create_app
from worker.runtime.dispatcher import CeleryDispatcher

create_app()
CeleryDispatcher()
print(sorted(name for name in sys.modules if name == "worker.runtime.celery_app" or name.startswith("tasks")))
"""


class TestWebProcessImports:
    def test_the_web_app_imports_no_celery_app_and_no_task(self) -> None:
        """Building the web app (and its dispatcher) leaves the Celery app and the tasks unimported."""
        result = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"
