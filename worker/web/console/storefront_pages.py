"""The Storefront page and its preview frame (worker/console/storefront.py decides what they show).

The preview is the real `/widget/v1/widget.js` in an iframe of ours: the console's CSP stays strict, the
widget's fixed launcher stays inside the frame, and the frame's `<html lang>` is the locale previewed (the
widget reads its locale there). The frame's own CSP lets it be framed by the console only
(`frame-ancestors 'self'`) and allows the widget's fallback `<style>` (`style-src 'unsafe-inline'`, for a
browser without constructable stylesheets); scripts still come from us alone. In sample-member mode the
frame carries made-up progress over the site's own streaks (worker/console/storefront_sample.py) as a JSON
block, which its static script hands to the widget (`element.session.sample`); no server route answers
member data on a flag."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlencode

from fastapi import Request, Response

from worker.console import storefront as domain
from worker.console.sessions import Session
from worker.engine.storefront import COPY_KEYS
from worker.web.console.pages import TEMPLATES, now, page

PREVIEW_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
)
MODES = ("guest", "member")


def _locale(editing: domain.Editing, wanted: str | None) -> str:
    locales = domain.preview_locales(editing)
    return wanted if wanted in locales else editing.values.get("template.defaultLocale", locales[0])


def storefront(
    request: Request,
    session: Session,
    instance_id: str,
    outcome: domain.Outcome | None = None,
    *,
    picked: Mapping[str, str] | None = None,
) -> Response:
    """The page: the choice and editors for the ids `picked` (the selects' or the refused form's), the
    posted values again when a Save was refused, and the preview frames' addresses."""
    outcome = outcome or domain.Outcome()
    editing = domain.editing(request.app.state.store, instance_id, picked)
    if outcome.problems and picked is not None:
        editing = replace(editing, values=dict(picked), locales=domain.posted_locales(picked))
    locale = _locale(editing, (picked or {}).get("locale"))
    query = {
        "templateId": editing.choice.templateId,
        "themeId": editing.choice.themeId,
        "floatingWidgetId": editing.choice.floatingWidgetId,
        "locale": locale,
        "session": request.state.console_token,
    }
    frames = {
        mode: f"/dashboard/sites/{instance_id}/storefront/preview?{urlencode({'mode': mode, **query})}"
        for mode in MODES
    }
    response = page(
        request,
        "storefront.html",
        session,
        instance_id,
        outcome=outcome,
        editing=editing,
        locale=locale,
        preview_locales=domain.preview_locales(editing),
        contrasts=domain.contrasts(editing.values),
        frames=frames,
        copy_keys=COPY_KEYS,
        positions=domain.POSITIONS,
        icons=domain.ICONS,
        color_names=domain.COLOR_NAMES,
    )
    response.status_code = outcome.status
    return response


def preview(request: Request, instance_id: str, query: Mapping[str, str]) -> Response:
    """The preview frame: the widget with the ids asked for (the site's own, else the saved ones), in
    the locale asked for, as a guest or as a sample member."""
    editing = domain.editing(request.app.state.store, instance_id, query)
    mode = query.get("mode") if query.get("mode") in MODES else "guest"
    response = TEMPLATES.TemplateResponse(
        request,
        "storefront_preview.html",
        {
            "site": instance_id,
            "choice": editing.choice,
            "locale": _locale(editing, query.get("locale")),
            "mode": mode,
            "sample": domain.sample_for(request.app.state.store, instance_id, now())
            if mode == "member"
            else None,
        },
    )
    response.headers["content-security-policy"] = PREVIEW_CSP
    return response
