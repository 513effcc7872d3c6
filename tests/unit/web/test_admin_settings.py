"""`GET|PATCH /admin/v1/instances/{id}/settings` and `python -m worker site-settings show|set`."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worker import cli, keys
from worker.commands import site_settings as site_settings_commands
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.web.app import create_app

ADMIN_TOKEN = "admin-token"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
INSTANCE = "inst-a"
ENV_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SITE_SECRET = "whsec_c2l0ZS1hLW93bi1zZWNyZXQtMjQtYnl0ZXMhIQ=="
URL = f"/admin/v1/instances/{INSTANCE}/settings"


def settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "admin_token": ADMIN_TOKEN,
        "external_sync_url": "https://env.example.test/hooks",
        "external_sync_secret": ENV_SECRET,
        "_env_file": None,
        **changes,
    }
    return Settings(**values)


@pytest.fixture
def api(fake_async, fake_store, public_key_pem) -> TestClient:
    app = create_app(
        settings(wix_public_key=public_key_pem),
        async_redis=fake_async,
        store=fake_store,
        follow_ups=RecordedDispatcher(),
    )
    return TestClient(app, raise_server_exceptions=False)


def values(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return {name: (field["value"], field["source"]) for name, field in answer.json()["settings"].items()}


class TestGet:
    def test_an_instance_that_set_nothing_shows_the_defaults(self, api) -> None:
        """Every value is the environment's, marked `default`; the secret is masked."""
        answer = api.get(URL, headers=ADMIN)
        assert values(answer) == {
            "syncUrl": ("https://env.example.test/hooks", "default"),
            "syncSecret": ("whsec_****LaSw", "default"),
            "syncMatchBy": ("email", "default"),
            "autoBootstrap": (False, "default"),
            "rewardExpiringNoticeDays": (3, "default"),
        }
        assert answer.json()["pointsSync"] == {"outbound": True, "inbound": True}
        assert ENV_SECRET.removeprefix("whsec_") not in answer.text

    def test_without_the_admin_token_it_is_401(self, api) -> None:
        """No token, or a wrong one: 401, nothing shown."""
        assert api.get(URL).status_code == 401
        assert api.get(URL, headers={"authorization": "Bearer wrong"}).status_code == 401

    def test_an_instance_id_outside_the_rule_is_422(self, api) -> None:
        """`a}b` names no instance."""
        answer = api.get("/admin/v1/instances/a%7Db/settings", headers=ADMIN)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["path"] == "path.instance_id"


class TestPatch:
    def test_set_fields_become_the_site_s_and_the_rest_stay_default(self, api) -> None:
        """The answer is the new resolved view; GET shows the same."""
        change = {"syncUrl": "https://a.example.test/in", "syncSecret": SITE_SECRET, "autoBootstrap": True}
        answer = api.patch(URL, json=change, headers=ADMIN)
        assert values(answer) == {
            "syncUrl": ("https://a.example.test/in", "site"),
            "syncSecret": ("whsec_****IQ==", "site"),
            "syncMatchBy": ("email", "default"),
            "autoBootstrap": (True, "site"),
            "rewardExpiringNoticeDays": (3, "default"),
        }
        assert values(api.get(URL, headers=ADMIN)) == values(answer)

    def test_the_secret_never_comes_back(self, api) -> None:
        """Neither the PATCH answer nor GET holds the secret it was given."""
        patched = api.patch(URL, json={"syncSecret": SITE_SECRET}, headers=ADMIN)
        shown = api.get(URL, headers=ADMIN)
        for answer in (patched, shown):
            assert SITE_SECRET.removeprefix("whsec_").rstrip("=") not in answer.text

    def test_null_clears_a_field(self, api) -> None:
        """null gives the field back to the default; fields left out are left alone."""
        api.patch(URL, json={"syncMatchBy": "contactId", "rewardExpiringNoticeDays": 7}, headers=ADMIN)
        answer = api.patch(URL, json={"syncMatchBy": None}, headers=ADMIN)
        assert values(answer)["syncMatchBy"] == ("email", "default")
        assert values(answer)["rewardExpiringNoticeDays"] == (7, "site")

    def test_clearing_the_secret_and_the_url_turns_the_sync_off(self, api, fake_store) -> None:
        """With no secret in the environment, an instance's own secret is what makes its sync work."""
        api.patch(URL, json={"syncSecret": SITE_SECRET}, headers=ADMIN)
        assert fake_store.sismember(keys.SITE_SYNC_SECRETS, INSTANCE)
        api.patch(URL, json={"syncSecret": None}, headers=ADMIN)
        assert not fake_store.sismember(keys.SITE_SYNC_SECRETS, INSTANCE)

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"syncUrl": "ftp://files.example.test/"}, "body.syncUrl"),
            ({"syncSecret": "not-a-whsec-secret"}, "body.syncSecret"),
            ({"syncMatchBy": "phone"}, "body.syncMatchBy"),
            ({"autoBootstrap": "yes"}, "body.autoBootstrap"),
            ({"rewardExpiringNoticeDays": -1}, "body.rewardExpiringNoticeDays"),
            ({"surprise": True}, "body.surprise"),
        ],
    )
    def test_a_bad_value_is_422_with_its_path_and_nothing_is_written(
        self, api, fake_store, change, path
    ) -> None:
        """The good field sent beside the bad one is not stored either."""
        answer = api.patch(URL, json={"syncUrl": "https://ok.example.test/", **change}, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request"
        assert [detail["path"] for detail in error["details"]] == [path]
        assert fake_store.keys("wrw:site*") == []

    def test_a_refused_secret_is_not_quoted_in_the_422(self, api) -> None:
        """The message names the rule, not the value."""
        secret = "whsec_c2hvcnQtYnV0LXNlY3JldA"
        answer = api.patch(URL, json={"syncSecret": secret}, headers=ADMIN)
        assert answer.status_code == 422
        assert "c2hvcnQtYnV0LXNlY3JldA" not in answer.text

    def test_a_body_that_is_not_an_object_is_422(self, api, fake_store) -> None:
        """A list, or no JSON at all: 422, nothing written."""
        assert api.patch(URL, json=[1], headers=ADMIN).status_code == 422
        answer = api.patch(URL, content=b"{", headers={**ADMIN, "content-type": "application/json"})
        assert answer.status_code == 422
        assert fake_store.keys("wrw:site*") == []


class TestCli:
    @pytest.fixture(autouse=True)
    def cli_world(self, fake_store, monkeypatch) -> None:
        monkeypatch.setattr(site_settings_commands, "_client", lambda: fake_store)
        monkeypatch.setattr(site_settings_commands, "get_settings", lambda: settings())

    def run(self, capsys, *argv: str) -> tuple[int, str, str]:
        code = cli.main(["site-settings", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    def test_set_then_show(self, capsys) -> None:
        """`set` prints the new view; `show` prints the same, the secret masked."""
        code, out, _ = self.run(
            capsys, "set", "--instance", INSTANCE, "--sync-url", "https://a.example.test/in",
            "--auto-bootstrap", "true", "--reward-expiring-notice-days", "0",
        )  # fmt: skip
        assert code == 0
        shown = json.loads(out)["settings"]
        assert shown["syncUrl"] == {"value": "https://a.example.test/in", "source": "site"}
        assert shown["autoBootstrap"] == {"value": True, "source": "site"}
        assert shown["rewardExpiringNoticeDays"] == {"value": 0, "source": "site"}
        code, again, _ = self.run(capsys, "show", "--instance", INSTANCE)
        assert (code, json.loads(again)) == (0, json.loads(out))

    def test_the_secret_is_read_from_standard_input_and_never_printed(self, capsys, monkeypatch) -> None:
        """`--sync-secret -` keeps it out of the shell history; the output masks it."""
        monkeypatch.setattr("sys.stdin", io.StringIO(SITE_SECRET + "\n"))
        code, out, err = self.run(capsys, "set", "--instance", INSTANCE, "--sync-secret", "-")
        assert code == 0
        assert json.loads(out)["settings"]["syncSecret"] == {"value": "whsec_****IQ==", "source": "site"}
        assert "c2l0ZS1h" not in out + err

    def test_clear_gives_a_field_back_to_the_default(self, capsys) -> None:
        """`--clear sync-match-by` after setting it."""
        self.run(capsys, "set", "--instance", INSTANCE, "--sync-match-by", "contactId")
        code, out, _ = self.run(capsys, "set", "--instance", INSTANCE, "--clear", "sync-match-by")
        assert code == 0
        assert json.loads(out)["settings"]["syncMatchBy"] == {"value": "email", "source": "default"}

    def test_a_bad_value_is_refused_and_nothing_is_written(self, capsys, fake_store) -> None:
        """Exit 1, each problem on its own line with its field; the good field beside it is not stored."""
        code, _, err = self.run(
            capsys, "set", "--instance", INSTANCE, "--sync-url", "https://ok.example.test/",
            "--sync-secret", "whsec_c2hvcnQ=", "--reward-expiring-notice-days", "-2",
        )  # fmt: skip
        assert code == 1
        assert [line.split(":")[1].strip() for line in err.splitlines()] == [
            "syncSecret",
            "rewardExpiringNoticeDays",
        ]
        assert "c2hvcnQ" not in err
        assert fake_store.keys("wrw:site*") == []

    def test_setting_and_clearing_one_field_is_refused(self, capsys, fake_store) -> None:
        """`--sync-url X --clear sync-url` is a contradiction: exit 1, nothing written."""
        code, _, err = self.run(
            capsys,
            "set",
            "--instance",
            INSTANCE,
            "--sync-url",
            "https://a.example.test/",
            "--clear",
            "sync-url",
        )
        assert code == 1
        assert "both set and cleared" in err
        assert fake_store.keys("wrw:site*") == []

    def test_an_instance_id_outside_the_rule_is_refused(self, capsys) -> None:
        """Exit 2 with the rule in words."""
        code, _, err = self.run(capsys, "show", "--instance", "a}b")
        assert code == 2
        assert "letters, digits" in err
