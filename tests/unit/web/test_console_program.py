"""The console's Programme page (`/dashboard/sites/{id}/program`): the YAML tab saves a valid draft and
lists an invalid one's problems with their paths (nothing saved), publishing makes a version with its
audit entry, the versions list, a version's diff against live, rollback; CSRF and another site refused."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.unit.web.test_console import api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker import keys
from worker.dev.programs import coupon, milestone, program, rule, streak
from worker.store import audit_log, program_versions

SITE = "site-a"
PAGE = f"/dashboard/sites/{SITE}/program"


def document(name: str = "Daily", target: int = 3) -> dict[str, object]:
    milestones = [milestone("m3", "Three", target, coupon("Ten", 10))]
    return program(
        streaks=[streak("daily", name, period="daily", milestones=milestones)],
        rules=[rule("order_paid", streak="daily")],
    )


def opened(client: TestClient) -> tuple[str, str]:
    return tokens(client.get("/dashboard/", params={"instance": signed()}).text)


def textarea(page: str) -> str:
    found = re.search(r'<textarea id="program"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found, page
    return html.unescape(found.group(1))


@pytest.fixture
def client(api: TestClient) -> TestClient:  # noqa: F811  (the imported fixture)
    return api


def live_name(fake_store) -> str:
    return str(program_versions.document_named(fake_store, SITE, "live")["streaks"][0]["name"])


class TestYamlTab:
    def test_the_tab_shows_the_live_programme_as_yaml_when_there_is_no_draft(
        self, client, fake_store
    ) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, _ = opened(client)
        answer = client.get(PAGE, params={"session": session, "view": "yaml"})
        assert answer.status_code == 200 and "<h1>Programme</h1>" in answer.text
        assert yaml.safe_load(textarea(answer.text)) == document()
        assert "<script>" not in answer.text

    def test_an_invalid_programme_lists_its_problems_by_path_and_saves_nothing(
        self, client, fake_store
    ) -> None:
        session, csrf = opened(client)
        bad = yaml.safe_dump(document(target=0), sort_keys=False)
        answer = client.post(f"{PAGE}/draft", data={"session": session, "csrf": csrf, "program": bad})
        assert answer.status_code == 422
        assert "<code>streaks[0].milestones[0].milestoneTargetValue</code>" in answer.text
        assert "Not saved" in answer.text
        assert textarea(answer.text) == bad  # what the merchant typed stays in the textarea
        assert fake_store.get(keys.program_draft(SITE)) is None
        assert audit_log.recent(fake_store, SITE) == []
        broken = client.post(f"{PAGE}/draft", data={"session": session, "csrf": csrf, "program": "a: [1"})
        assert broken.status_code == 422 and "not valid YAML or JSON" in broken.text

    def test_a_valid_programme_becomes_the_draft_and_the_live_one_is_untouched(
        self, client, fake_store
    ) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        text = yaml.safe_dump(document(name="Every day"), sort_keys=False)
        answer = client.post(f"{PAGE}/draft", data={"session": session, "csrf": csrf, "program": text})
        assert answer.status_code == 200 and "The draft is saved" in answer.text
        assert program_versions.draft(fake_store, SITE)["document"] == document(name="Every day")
        assert program_versions.draft(fake_store, SITE)["who"] == "owner-1"
        assert live_name(fake_store) == "Daily"
        assert (
            yaml.safe_load(textarea(client.get(PAGE, params={"session": session, "view": "yaml"}).text))[
                "streaks"
            ][0]["name"]
            == "Every day"
        )
        assert audit_log.recent(fake_store, SITE, 1)[0]["action"] == "draft_saved"

    def test_publishing_the_draft_makes_a_version_with_its_note_and_an_audit_entry(
        self, client, fake_store
    ) -> None:
        session, csrf = opened(client)
        text = yaml.safe_dump(document(name="Every day"))
        client.post(f"{PAGE}/draft", data={"session": session, "csrf": csrf, "program": text})
        answer = client.post(f"{PAGE}/publish", data={"session": session, "csrf": csrf, "note": "new name"})
        assert answer.status_code == 200 and "Version 1 is live." in answer.text
        assert live_name(fake_store) == "Every day"
        assert [v["note"] for v in program_versions.list_versions(fake_store, SITE)] == ["new name"]
        entry = audit_log.recent(fake_store, SITE, 1)[0]
        assert (entry["who"], entry["action"], entry["details"]["version"]) == ("owner-1", "published", 1)
        assert 'data-version="1"' in answer.text and "new name" in answer.text
        again = client.post(f"{PAGE}/publish", data={"session": session, "csrf": csrf, "note": ""})
        assert again.status_code == 409 and "no draft to publish" in again.text


class TestVersions:
    def test_a_versions_diff_against_live_and_rolling_back_to_it(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin", note="first")
        program_versions.publish_document(fake_store, SITE, document(name="Every day"), who="admin")
        session, csrf = opened(client)
        page = client.get(PAGE, params={"session": session, "version": "1"}).text
        assert "Changes from version 1 to live" in page  # ?version=N: N against live, as before
        assert re.search(
            r"<code>streaks\[0\]\.name</code></td><td>changed</td>\s*<td>&#34;Daily&#34;</td>"
            r"<td>&#34;Every day&#34;</td>",
            page,
        ), page
        assert "Roll back to 1" in page and "Roll back to 2" not in page  # 2 is live
        answer = client.post(f"{PAGE}/rollback", data={"session": session, "csrf": csrf, "version": "1"})
        assert answer.status_code == 200 and "Version 1 is live again, as version 3." in answer.text
        assert live_name(fake_store) == "Daily"
        entry = audit_log.recent(fake_store, SITE, 1)[0]
        assert (entry["who"], entry["action"], entry["details"]["to"]) == ("owner-1", "rolled_back", 1)
        missing = client.post(f"{PAGE}/rollback", data={"session": session, "csrf": csrf, "version": "9"})
        assert missing.status_code == 404 and "no version 9" in missing.text
        missing_page = client.get(PAGE, params={"session": session, "version": "7"}).text
        assert "Nothing to compare: version 7 or live does not exist." in missing_page

    def test_any_two_versions_live_or_the_draft_are_compared(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin", note="first")
        program_versions.publish_document(fake_store, SITE, document(name="Every day"), who="admin")
        program_versions.publish_document(fake_store, SITE, document(target=2), who="admin")
        session, _ = opened(client)

        def compared(old: str, new: str) -> str:
            """The page's Compare section for `from=old&to=new`."""
            answer = client.get(PAGE, params={"session": session, "from": old, "to": new})
            assert answer.status_code == 200
            return answer.text.split('<section id="diff"', 1)[1].split("</section>", 1)[0]

        two_to_one = compared("2", "1")
        assert "Changes from version 2 to version 1" in two_to_one
        assert re.search(r"<td>&#34;Every day&#34;</td><td>&#34;Daily&#34;</td>", two_to_one), two_to_one
        assert "milestoneTargetValue" not in two_to_one  # 1 and 2 differ only in the name
        one_to_live = compared("1", "live")
        assert "streaks[0].milestones[0].milestoneTargetValue</code>" in one_to_live
        assert "Version 3 and live are the same." in compared("3", "live")
        assert "Nothing to compare: version 1 or the draft does not exist." in compared("1", "draft")
        program_versions.save_draft(fake_store, SITE, yaml.safe_dump(document(name="Weekly")), "owner-1")
        assert "<td>&#34;Daily&#34;</td><td>&#34;Weekly&#34;</td>" in compared("live", "draft")
        assert 'option value="draft" selected' in compared("live", "draft")
        for hostile in ("../x", "9" * 40, "<b>"):
            assert "<b>" not in compared(hostile, "live")


class TestRefusals:
    def test_a_post_without_the_csrf_token_changes_nothing(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, _ = opened(client)
        text = yaml.safe_dump(document(name="Every day"))
        for path, extra in (("draft", {"program": text}), ("publish", {}), ("rollback", {"version": "1"})):
            answer = client.post(f"{PAGE}/{path}", data={"session": session, "csrf": "wrong", **extra})
            assert answer.status_code == 403, path
            assert client.post(f"{PAGE}/{path}", data={"session": session, **extra}).status_code == 403
        assert fake_store.get(keys.program_draft(SITE)) is None
        assert len(program_versions.list_versions(fake_store, SITE)) == 1

    def test_another_sites_programme_is_refused(self, client) -> None:
        session, csrf = opened(client)
        assert client.get("/dashboard/sites/site-b/program", params={"session": session}).status_code == 403
        text = yaml.safe_dump(document())
        answer = client.post(
            "/dashboard/sites/site-b/program/draft", data={"session": session, "csrf": csrf, "program": text}
        )
        assert answer.status_code == 403


class TestFields:
    def test_the_fields_rename_a_streak_and_change_a_target_into_the_draft(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        page = client.get(PAGE, params={"session": session}).text
        assert 'name="streaks[0].name" value="Daily"' in page
        assert 'name="streaks[0].milestones[0].milestoneTargetValue" value="3"' in page
        fields = {"streaks[0].name": "Every day", "streaks[0].milestones[0].milestoneTargetValue": "2"}
        answer = client.post(f"{PAGE}/fields", data={"session": session, "csrf": csrf, **fields})
        assert answer.status_code == 200 and "The draft is saved" in answer.text
        assert program_versions.draft(fake_store, SITE)["document"] == document(name="Every day", target=2)
        yaml_tab = client.get(PAGE, params={"session": session, "view": "yaml"}).text
        assert yaml.safe_load(textarea(yaml_tab)) == document(name="Every day", target=2)
        assert live_name(fake_store) == "Daily"

    def test_a_negative_target_is_shown_beside_its_field_and_nothing_is_saved(
        self, client, fake_store
    ) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        target = "streaks[0].milestones[0].milestoneTargetValue"
        fields = {"streaks[0].name": "Every day", target: "-1"}
        answer = client.post(f"{PAGE}/fields", data={"session": session, "csrf": csrf, **fields})
        assert answer.status_code == 422
        field = re.escape(target)
        marked = rf'name="{field}" value="-1"[^>]*aria-invalid="true" aria-describedby="{field}-problem"'
        assert re.search(marked, answer.text), answer.text
        assert re.search(rf'id="{re.escape(target)}-problem">[^<]*greater than 0', answer.text), answer.text
        assert 'value="Every day"' in answer.text  # what the merchant typed stays
        assert fake_store.get(keys.program_draft(SITE)) is None
        assert client.post(f"{PAGE}/fields", data={"session": session, **fields}).status_code == 403

    def test_the_add_button_renders_the_new_item_and_saves_nothing(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        answer = client.post(
            f"{PAGE}/fields",
            data={"session": session, "csrf": csrf, "add": "challenges", "streaks[0].name": "X"},
        )
        assert answer.status_code == 200 and "Added a challenge (challenges[0])" in answer.text
        assert 'name="challenges[0].completionTargetValue" value=""' in answer.text
        assert 'name="streaks[0].name" value="X"' in answer.text  # the other edits are kept in the form
        assert 'name="remove" value="challenges[0]"' in answer.text
        assert fake_store.get(keys.program_draft(SITE)) is None

    def test_a_problem_without_a_field_of_its_own_is_named_at_the_top_and_beside_its_item(
        self, client, fake_store
    ) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        fields = {"session": session, "csrf": csrf, "rules[0].challenge": "daily"}  # a streak AND a challenge
        answer = client.post(f"{PAGE}/fields", data=fields)
        assert answer.status_code == 422
        top = answer.text.split('id="fields-problems"', 1)[1].split("</div>", 1)[0]
        assert "<code>rules[0]</code>: needs exactly one of streak and challenge" in top
        assert (
            '<p class="problem" id="rules[0]-problem"><code>rules[0]</code>: needs exactly one' in answer.text
        )
        assert fake_store.get(keys.program_draft(SITE)) is None

    def test_hostile_posts_are_ignored_or_refused_by_name_never_a_500(self, client, fake_store) -> None:
        program_versions.publish_document(fake_store, SITE, document(), who="admin")
        session, csrf = opened(client)
        base = {"session": session, "csrf": csrf}
        far = client.post(f"{PAGE}/fields", data={**base, "streaks[999999].name": "x", "bogus[0].x": "y"})
        assert far.status_code == 200 and program_versions.draft(fake_store, SITE)["document"] == document()
        broken = client.post(f"{PAGE}/fields", data={**base, "document": "{not json"})
        assert broken.status_code == 422 and "<code>(form)</code>" in broken.text
        huge = client.post(f"{PAGE}/fields", data={**base, **{f"x{i}": "" for i in range(6000)}})
        assert huge.status_code == 422 and "the form is too large" in huge.text
        not_a_number = client.post(
            f"{PAGE}/fields", data={**base, "streaks[0].milestones[0].milestoneTargetValue": "lots"}
        )
        assert not_a_number.status_code == 422
        assert 'id="streaks[0].milestones[0].milestoneTargetValue-problem">Input should be a valid' in (
            not_a_number.text
        )


class TestTabs:
    def test_the_forms_tab_is_shown_first_and_the_yaml_tab_on_request(self, client) -> None:
        session, _ = opened(client)
        forms = client.get(PAGE, params={"session": session}).text
        assert '<textarea id="program"' not in forms and 'name="timezone"' in forms
        yaml_tab = client.get(PAGE, params={"session": session, "view": "yaml"}).text
        assert '<textarea id="program"' in yaml_tab and 'name="timezone"' not in yaml_tab
        assert re.search(r'view=yaml[^"]*"\s+aria-current="page"', yaml_tab)

    def test_a_refused_yaml_save_stays_on_the_yaml_tab(self, client) -> None:
        session, csrf = opened(client)
        posted = {"session": session, "csrf": csrf, "program": "streaks: 3"}
        answer = client.post(f"{PAGE}/draft", data=posted)
        assert answer.status_code == 422
        assert '<textarea id="program"' in answer.text and "streaks: 3" in answer.text
