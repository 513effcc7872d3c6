"""The Preview page's domain: the site's draft replayed against the journal's past events beside the live
programme (`worker.events.preview`, reads only), shaped for the page as live | draft | change rows, for
the whole programme and for each streak and challenge, and what to say when there is nothing to compare
(no draft, a draft no longer valid, an empty journal) or when the replay stopped at `DRY_RUN_MAX_EVENTS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import redis

from worker.engine.program import ProgramInvalid
from worker.events.preview import preview_document
from worker.store import program_versions
from worker.store.program_versions import NoDraft, NoVersion

State = Literal["ready", "no_draft", "invalid_draft", "no_events"]
Presence = Literal["both", "draft_only", "live_only"]
Direction = Literal["up", "down", "same"]

# What the page compares, in its order: (the replay answer's field, the row's label). A dotted field is
# read inside a mapping ("rewardLogsByKind.coupon").
MEASURES: tuple[tuple[str, str], ...] = (
    ("members", "Members who would log"),
    ("logs", "Activity logs"),
    ("milestonesReached", "Milestones reached"),
    ("rewardLogs", "Reward logs"),
    ("rewardLogsByKind.coupon", "Reward logs: coupon"),
    ("rewardLogsByKind.points", "Reward logs: points"),
    ("rewardLogsByKind.manual", "Reward logs: manual"),
    ("coupons", "Coupons issued"),
    ("points", "Points issued"),
)
KIND_LABELS = {"streak": "Streak", "challenge": "Challenge"}
MINUS = "\u2212"  # a real minus sign: read as "minus", and as wide as the plus


@dataclass(frozen=True)
class Row:
    """One measure side by side; a side is None when its programme has no such streak or challenge."""

    measure: str  # the replay answer's field
    label: str
    live: int | None
    draft: int | None

    @property
    def change(self) -> int:
        return (self.draft or 0) - (self.live or 0)

    @property
    def direction(self) -> Direction:
        return "up" if self.change > 0 else "down" if self.change < 0 else "same"

    @property
    def change_text(self) -> str:
        """The change with its sign: "+3", MINUS "2", or "no change"."""
        if self.change > 0:
            return f"+{self.change}"
        if self.change < 0:
            return f"{MINUS}{-self.change}"
        return "no change"


@dataclass(frozen=True)
class Item:
    """One streak or challenge: in both programmes, only in the draft (new), or only live (removed)."""

    kind: str
    id: str
    name: str
    presence: Presence
    rows: list[Row]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.capitalize())

    @property
    def presence_text(self) -> str:
        if self.presence == "draft_only":
            return "Only in the draft: publishing adds it."
        if self.presence == "live_only":
            return "Only live: publishing the draft removes it."
        return ""


@dataclass(frozen=True)
class Preview:
    """What the Preview page shows: a `state`, and when it is "ready" the totals and each item."""

    state: State
    days: int  # how far back the journal reaches (EVENT_JOURNAL_TTL_SECONDS)
    draft_who: str = ""
    draft_at: str = ""
    has_live: bool = False
    events: int = 0
    members: int = 0
    stopped: str = ""  # why the replay stopped early (DRY_RUN_MAX_EVENTS), else empty
    totals: list[Row] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)


def _measure(tally: dict[str, Any], name: str) -> int:
    value: Any = tally
    for part in name.split("."):
        value = value.get(part, 0) if isinstance(value, dict) else 0
    return int(value or 0)


def rows(live: dict[str, Any] | None, draft: dict[str, Any] | None) -> list[Row]:
    """Every measure of two tallies (a replay's `current` and `draft`); None: that side has no such item."""
    return [
        Row(
            name,
            label,
            None if live is None else _measure(live, name),
            None if draft is None else _measure(draft, name),
        )
        for name, label in MEASURES
    ]


def _ids(document: dict[str, Any] | None) -> set[tuple[str, str]]:
    """The (kind, id) of each streak and challenge of a programme document."""
    if not document:
        return set()
    found = set()
    for kind, section in (("streak", "streaks"), ("challenge", "challenges")):
        for entry in document.get(section) or []:
            if isinstance(entry, dict) and "id" in entry:
                found.add((kind, str(entry["id"])))
    return found


def items(by_item: list[dict[str, Any]], live: dict[str, Any] | None, draft: dict[str, Any]) -> list[Item]:
    """The replay's `byItem`, each marked as in both programmes, only in the draft or only live (its
    other side then shown as absent, not as zeros)."""
    in_live, in_draft = _ids(live), _ids(draft)
    shaped = []
    for entry in by_item:
        key = (str(entry["kind"]), str(entry["id"]))
        presence: Presence = (
            "both" if key in in_live and key in in_draft else "live_only" if key in in_live else "draft_only"
        )
        shaped.append(
            Item(
                kind=key[0],
                id=key[1],
                name=str(entry.get("name") or key[1]),
                presence=presence,
                rows=rows(
                    entry.get("current") if presence != "draft_only" else None,
                    entry.get("draft") if presence != "live_only" else None,
                ),
            )
        )
    return shaped


def shaped(
    answer: dict[str, Any], live: dict[str, Any] | None, draft: dict[str, Any], *, days: int
) -> Preview:
    """A replay's answer (worker.events.preview) as the page's rows; pure."""
    if not answer.get("events"):
        return Preview("no_events", days, has_live=live is not None)
    return Preview(
        "ready",
        days,
        has_live=live is not None,
        events=int(answer["events"]),
        members=int(answer.get("members") or 0),
        stopped=str(answer.get("stoppedReason") or "") if answer.get("stopped") else "",
        totals=rows(answer.get("current") if live is not None else None, answer.get("draft")),
        items=items(answer.get("byItem") or [], live, draft),
    )


def preview(client: redis.Redis, instance_id: str, *, max_events: int, journal_seconds: int) -> Preview:
    """The site's draft replayed against its journal beside the live programme. Only reads Redis; the
    replay may take seconds on a big journal, so the console runs it in a thread."""
    days = journal_seconds // 86_400
    try:
        saved = program_versions.draft(client, instance_id)
    except NoDraft:
        return Preview("no_draft", days)
    draft_document: dict[str, Any] = saved["document"]
    try:
        live: dict[str, Any] | None = program_versions.document_named(client, instance_id, "live")
    except NoVersion:
        live = None
    who, at = str(saved.get("who") or ""), str(saved.get("at") or "")[:16].replace("T", " ")
    try:
        answer = preview_document(client, instance_id, json.dumps(draft_document), max_events=max_events)
    except ProgramInvalid as exc:  # valid when saved, refused by today's rules
        return Preview("invalid_draft", days, who, at, problems=exc.problems)
    return replace(shaped(answer, live, draft_document, days=days), draft_who=who, draft_at=at)
