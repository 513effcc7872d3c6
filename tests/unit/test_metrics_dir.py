"""Several web processes' metrics: the directory their counts share (worker/runtime/metrics.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.runtime.metrics import MULTIPROCESS_DIR, fresh_multiprocess_dir, metric_registries
from worker.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_a_named_directory_loses_an_earlier_runs_counts_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"an earlier run's counts")
    (tmp_path / "histogram_123.db").write_bytes(b"an earlier run's timings")
    (tmp_path / "README").write_text("the operator's own file")
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    assert fresh_multiprocess_dir() == (tmp_path, False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README"]


def test_without_one_a_new_empty_directory_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    directory, made_here = fresh_multiprocess_dir()
    try:
        assert made_here and directory.is_dir() and not any(directory.iterdir())
    finally:
        directory.rmdir()


def test_a_directory_that_is_not_there_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path / "missing"))
    for call in (fresh_multiprocess_dir, metric_registries):
        with pytest.raises(SettingsError, match=f"{MULTIPROCESS_DIR}=.*missing is not a directory"):
            call()


def test_one_process_counts_and_answers_from_one_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    own, exposed = metric_registries()
    assert own is exposed


def test_the_web_process_stops_with_one_line_on_a_missing_directory(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROCESS_DIR: str(tmp_path / "missing"), "WEB_PROCESSES": "2"}
    completed = subprocess.run(
        [sys.executable, "-m", "worker", "web"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode != 0
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {MULTIPROCESS_DIR}={tmp_path / 'missing'} is not a directory"]
