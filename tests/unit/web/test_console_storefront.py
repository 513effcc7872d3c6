"""The console's Storefront page (`/dashboard/sites/{id}/storefront`): the Account Id and the site's own
items shown; Save publishes the edited items as a new version without publishing the draft (which gets
the same sections), stores the choice and queues Embed Script through the instance's outbox; a failing
contrast or a bad field is refused by its field with 422 and nothing saved; the switch; the preview
frame's CSP and ids; CSRF and another site refused."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.web.test_console import api, follow_ups, signed, tokens  # noqa: F401  (fixtures)
from worker import keys
from worker.dev.programs import coupon, milestone, program, rule, streak
from worker.dispatch import ON_INSTALLED
from worker.installs.lifecycle import INSTALL_INTENT
from worker.store import audit_log, program_versions, storefront_choice

SITE = "site-a"
PAGE = f"/dashboard/sites/{SITE}/storefront"


def document(name: str = "Daily") -> dict[str, object]:
    milestones = [milestone("m3", "Three", 3, coupon("Ten", 10))]
    return {
        **program(
            streaks=[streak("daily", name, period="daily", milestones=milestones)],
            rules=[rule("order_paid", streak="daily")],
        ),
        "themes": [
            {
                "id": "dark",
                "colors": {
                    "primary": "#ffcc00",
                    "onPrimary": "#000000",
                    "background": "#101010",
                    "text": "#f5f5f5",
                    "muted": "#b0b0b0",
                },
            }
        ],
    }


@pytest.fixture
def client(api: TestClient, fake_store) -> TestClient:  # noqa: F811  (the imported fixture)
    program_versions.publish_document(fake_store, SITE, document(), who="admin")
    return api


def opened(client: TestClient) -> tuple[str, str, str]:
    """The session, the CSRF token and the Storefront page's HTML."""
    session, csrf = tokens(client.get("/dashboard/", params={"instance": signed()}).text)
    page = client.get(PAGE, params={"session": session})
    assert page.status_code == 200, page.text
    return session, csrf, page.text


def form_of(page: str) -> dict[str, str]:
    """The Save form's fields as the page renders them (inputs and each select's selected option)."""
    body = page[page.index('<form id="storefront"') :]
    body = body[: body.index("</form>")]
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body)
    }
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)".*?>(.*?)</select>', body, re.DOTALL):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        if chosen:
            fields[html.unescape(name)] = html.unescape(chosen.group(1))
    return fields


def live(fake_store) -> dict[str, object]:
    return program_versions.document_named(fake_store, SITE, "live")


class TestThePage:
    def test_it_shows_the_account_id_and_the_sites_own_items(self, client) -> None:
        _, _, page = opened(client)
        assert f'<code id="account-id">{SITE}</code>' in page
        assert '<option value="dark">dark</option>' in page  # the live programme's theme
        assert '<option value="default" selected>default (built in)</option>' in page
        assert 'href="/dashboard/sites/site-a/storefront?session=' in page and 'aria-current="page"' in page
        assert "<script>" not in page and "style=" not in page  # the console's CSP forbids both
        fields = form_of(page)
        assert fields["template.copy.de.title"] == "Prämien"  # the built-in template's German copy
        assert "Contrast with background: 17.4:1" in page  # beside the text colour of the default theme

    def test_picking_another_theme_shows_its_colours_without_saving(self, client, fake_store) -> None:
        session, _, _ = opened(client)
        answer = client.get(PAGE, params={"session": session, "themeId": "dark", "locale": "de"})
        assert form_of(answer.text)["theme.colors.primary"] == "#ffcc00"
        assert "themeId=dark" in answer.text and "locale=de" in answer.text  # the preview frames follow
        assert storefront_choice.get(fake_store, SITE).themeId == "default"

    def test_a_colour_being_tried_gets_its_contrast_before_a_save(self, client, fake_store) -> None:
        """The theme editor asks the page again with the colours typed: the contrast follows them."""
        session, _, _ = opened(client)
        query = {"session": session, "theme.colors.text": "#cccccc", "theme.colors.background": "#ffffff"}
        answer = client.get(PAGE, params=query)
        assert (
            '<span id="theme.colors.text-contrast" class="contrast fail">Contrast with background: 1.6:1'
            in (answer.text)
        )
        assert fake_store.get(keys.program(SITE)) == json.dumps({"version": 1, "document": document()})

    def test_the_preview_frame_has_its_own_csp_and_the_picked_ids(self, client) -> None:
        session, _, _ = opened(client)
        query = {
            "session": session,
            "mode": "member",
            "themeId": "dark",
            "locale": "de",
            "templateId": "nope",
        }
        answer = client.get(f"{PAGE}/preview", params=query)
        assert answer.status_code == 200
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
        assert '<html lang="de">' in answer.text
        assert 'data-theme-id="dark"' in answer.text and 'data-template-id="default"' in answer.text
        assert 'data-mode="member"' in answer.text and "<script>" not in answer.text
        sample = re.search(r'<script type="application/json" id="sample-member">(.*?)</script>', answer.text)
        assert (
            sample and json.loads(sample.group(1))["streaks"][0]["name"] == "Daily"
        )  # the site's own streak
        guest = client.get(f"{PAGE}/preview", params={**query, "mode": "guest"})
        assert "sample-member" not in guest.text


class TestSave:
    def test_save_publishes_the_edited_items_keeps_the_draft_a_draft_and_queues_the_embedding(
        self,
        client,
        fake_store,
        follow_ups,  # noqa: F811
    ) -> None:
        program_versions.save_draft(fake_store, SITE, json.dumps(document("Pending")), "owner-1")
        session, csrf, page = opened(client)
        fields = {**form_of(page), "session": session, "csrf": csrf}
        fields.update(
            {
                "themeId": "dark",
                "theme.id": "dark",
                **{f"theme.colors.{k}": v for k, v in document()["themes"][0]["colors"].items()},  # type: ignore[index]
                "theme.colors.primary": "#ffd84d",
                "template.copy.de.title": "Treueclub",
                "floatingWidget.id": "corner",
                "floatingWidget.position": "bottom-left",
                "floatingWidget.label": "Punkte",
            }
        )
        answer = client.post(PAGE, data=fields)
        assert answer.status_code == 200, answer.text
        assert "Saved: template default, theme dark, floating widget corner." in answer.text
        now = live(fake_store)
        assert now["streaks"][0]["name"] == "Daily"  # type: ignore[index]  # the draft was not published
        assert [t["colors"]["primary"] for t in now["themes"]] == ["#ffd84d"]  # type: ignore[attr-defined]
        assert now["templates"][0]["copy"]["de"]["title"] == "Treueclub"  # type: ignore[index]
        assert now["floatingWidgets"] == [  # type: ignore[comparison-overlap]
            {
                "id": "corner",
                "position": "bottom-left",
                "offsetX": 24,
                "offsetY": 24,
                "label": "Punkte",
                "icon": "gift",
                "size": "medium",
            }
        ]
        newest = program_versions.list_versions(fake_store, SITE, 1)[0]
        assert newest["note"] == "Storefront: template default, theme dark, floating widget corner"
        draft = program_versions.draft(fake_store, SITE)["document"]
        assert draft["streaks"][0]["name"] == "Pending"  # still the merchant's pending change
        assert {k: draft[k] for k in ("templates", "themes", "floatingWidgets")} == {
            k: now[k] for k in ("templates", "themes", "floatingWidgets")
        }
        assert storefront_choice.get(fake_store, SITE) == storefront_choice.StorefrontChoice(
            "default", "dark", "corner", True
        )
        assert INSTALL_INTENT in fake_store.hgetall(keys.instance_outbox(SITE))  # relayed if the send is lost
        assert follow_ups.resent == [(ON_INSTALLED, {"instance_id": SITE}, "rewards")]
        actions = [entry["action"] for entry in audit_log.recent(fake_store, SITE, 5)]
        assert actions[:2] == ["storefront_saved", "storefront_published"]

    def test_an_unchanged_save_publishes_nothing_but_sends_the_choice(
        self,
        client,
        fake_store,
        follow_ups,  # noqa: F811
    ) -> None:
        session, csrf, page = opened(client)
        before = program_versions.list_versions(fake_store, SITE)
        answer = client.post(PAGE, data={**form_of(page), "session": session, "csrf": csrf})
        assert answer.status_code == 200, answer.text
        assert program_versions.list_versions(fake_store, SITE) == before
        assert len(follow_ups.resent) == 1

    def test_a_colour_that_fails_contrast_is_refused_beside_its_field_and_nothing_is_saved(
        self,
        client,
        fake_store,
        follow_ups,  # noqa: F811
    ) -> None:
        session, csrf, page = opened(client)
        before = fake_store.get(keys.program(SITE))
        fields = {**form_of(page), "session": session, "csrf": csrf, "theme.colors.text": "#cccccc"}
        answer = client.post(PAGE, data=fields)
        assert answer.status_code == 422
        problem = re.search(
            r'<span class="problem" id="theme.colors.text-problem">([^<]*)</span>', answer.text
        )
        assert problem and "contrast with background is 1.6:1" in problem.group(1)
        assert 'value="#cccccc"' in answer.text  # the refused value is shown again
        assert "Contrast with background: 1.6:1" in answer.text
        assert fake_store.get(keys.program(SITE)) == before
        assert fake_store.exists(keys.storefront_choice(SITE)) == 0 and follow_ups.resent == []

    @pytest.mark.parametrize(
        ("field", "value", "where"),
        [
            ("themeId", "not-a-theme", "themeId"),
            ("floatingWidget.label", "", "floatingWidget.label"),
            ("floatingWidget.position", "middle", "floatingWidget.position"),
            ("template.newLocale", "not a locale", "template.newLocale"),
            ("theme.colors.primary", "red", "theme.colors.primary"),
        ],
    )
    def test_bad_input_is_a_422_naming_its_field(self, client, fake_store, field, value, where) -> None:
        session, csrf, page = opened(client)
        answer = client.post(PAGE, data={**form_of(page), "session": session, "csrf": csrf, field: value})
        assert answer.status_code == 422
        assert f'id="{where}-problem"' in answer.text
        assert fake_store.exists(keys.storefront_choice(SITE)) == 0

    def test_a_new_locale_is_added_to_the_template(self, client, fake_store) -> None:
        session, csrf, page = opened(client)
        fields = {**form_of(page), "session": session, "csrf": csrf, "template.newLocale": "fr"}
        assert client.post(PAGE, data=fields).status_code == 200
        assert set(live(fake_store)["templates"][0]["copy"]) == {"en", "de", "fr"}  # type: ignore[index]
        again = client.get(PAGE, params={"session": session})
        assert (
            'name="template.copy.fr.title"' in again.text and '<option value="fr">fr</option>' in again.text
        )


class TestSwitch:
    def test_off_and_on_again(self, client, fake_store, follow_ups) -> None:  # noqa: F811
        session, csrf, _ = opened(client)
        off = client.post(f"{PAGE}/shown", data={"session": session, "csrf": csrf, "shown": "off"})
        assert off.status_code == 200 and 'aria-checked="false"' in off.text
        assert storefront_choice.get(fake_store, SITE).shown is False
        on = client.post(f"{PAGE}/shown", data={"session": session, "csrf": csrf, "shown": "on"})
        assert 'aria-checked="true"' in on.text and storefront_choice.get(fake_store, SITE).shown is True
        assert len(follow_ups.resent) == 2
        details = [e["details"]["shown"] for e in audit_log.recent(fake_store, SITE, 2)]
        assert details == [True, False]


class TestRefusals:
    def test_a_post_without_csrf_changes_nothing(self, client, fake_store) -> None:
        session, _, _ = opened(client)
        answer = client.post(f"{PAGE}/shown", data={"session": session, "shown": "off"})
        assert answer.status_code == 403 and "CSRF" in answer.text
        assert fake_store.exists(keys.storefront_choice(SITE)) == 0

    def test_another_sites_page_and_preview_are_refused(self, client) -> None:
        session, _, _ = opened(client)
        for path in ("storefront", "storefront/preview"):
            answer = client.get(f"/dashboard/sites/site-b/{path}", params={"session": session})
            assert answer.status_code == 403
