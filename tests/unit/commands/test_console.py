"""`python -m worker console link --instance ID`: a sign-in link that opens that site's console, and a
clear refusal without CONSOLE_SECRET or with a bad id."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from worker.cli import main
from worker.console.sessions import verify_link
from worker.settings import get_settings

SECRET = "console-secret-0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_link_opens_one_site(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://rewards.example.test")
    assert main(["console", "link", "--instance", "site-a"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "rewards.example.test", "/dashboard/")
    link = parse_qs(url.query)["link"][0]
    assert verify_link(SECRET, link).instance_id == "site-a"


def test_without_the_secret_or_with_a_bad_id_it_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CONSOLE_SECRET", raising=False)
    assert main(["console", "link", "--instance", "site-a"]) == 1
    assert "CONSOLE_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    assert main(["console", "link", "--instance", "a}b"]) == 2
    assert "not an instance id" in capsys.readouterr().err
