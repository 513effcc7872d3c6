"""Inbox (wix-facts.md §4.5; conversations.service.json, messages.service.json).

`POST /inbox/v2/conversations` `{"participantId": {"contactId" | "memberId" | "anonymousVisitorId"}}`
→ `{"conversation": {id, participant, channels, businessDisplayData}, "newConversation"}`, one
conversation per participant. `POST /inbox/v2/messages` `{conversationId, message: {content, direction,
visibility, ...}, sendNotifications, silent, sendAs}` → `{"message": {id, content, sender: {appId},
direction, visibility, sequence, createdDate, appId}}`; every message is recorded for read-back.
An unknown conversation is a 404 `NOT_FOUND` (UNCONFIRMED code).

`GET /inbox/v2/messages?conversationId=&visibility=BUSINESS|BUSINESS_AND_PARTICIPANT&paging.limit=
&paging.cursor=&sorting.fieldName=sequence&sorting.order=DESC|ASC` (List Messages) → `{"messages",
"pagingMetadata": {count, cursors: {next}, hasNext}}`: the conversation's messages as sent, newest first
by default, 30 a page by default (at most 100); `BUSINESS` answers every message,
`BUSINESS_AND_PARTICIPANT` only those the participant sees.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request

from worker.wix.fake.errors import Violations, invalid, json_object, not_found
from worker.wix.fake.oauth import CallerDep
from worker.wix.fake.query import cursor_page, limit_of
from worker.wix.fake.state import iso, new_id

router = APIRouter(tags=["inbox"])

PARTICIPANT_KINDS = ("contactId", "memberId", "anonymousVisitorId")


def _either(body: dict[str, Any], camel: str, snake: str) -> Any:
    """Wix's gateway takes camelCase and snake_case alike (its own example sends snake_case)."""
    return body.get(camel, body.get(snake))


@router.post("/inbox/v2/conversations")
async def get_or_create_conversation(request: Request, caller: CallerDep) -> dict[str, Any]:
    """The participant's conversation, created on first use."""
    body = await json_object(request)
    participant = _either(body, "participantId", "participant_id")
    kinds = [kind for kind in PARTICIPANT_KINDS if isinstance(participant, dict) and participant.get(kind)]
    if not isinstance(participant, dict) or len(kinds) != 1:
        raise invalid("participantId", f"exactly one of {', '.join(PARTICIPANT_KINDS)}", "ONE_OF")
    wanted = {kinds[0]: participant[kinds[0]]}
    for conversation in caller.instance.conversations.values():
        if conversation["participant"] == wanted:
            return {"conversation": copy.deepcopy(conversation), "newConversation": False}
    conversation = {
        "id": new_id(),
        "participant": wanted,
        "channels": ["CHAT"],
        "businessDisplayData": {"name": "fake-wix-site"},
    }
    caller.instance.conversations[conversation["id"]] = conversation
    return {"conversation": copy.deepcopy(conversation), "newConversation": True}


@router.post("/inbox/v2/messages")
async def send_message(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Records the message in its conversation and answers it as sent by our app."""
    body = await json_object(request)
    conversation_id = _either(body, "conversationId", "conversation_id")
    message = body.get("message")
    good_id = isinstance(conversation_id, str) and bool(conversation_id)
    good_message = isinstance(message, dict) and isinstance(message.get("content"), dict)
    if (
        not isinstance(conversation_id, str)
        or not isinstance(message, dict)
        or not (good_id and good_message)
    ):
        violations = Violations()
        if not good_id:
            violations.add("conversationId", "conversationId is required", "REQUIRED_FIELD")
        if not good_message:
            violations.add("message.content", "message.content is required", "REQUIRED_FIELD")
        raise violations.error()
    conversation = caller.instance.conversations.get(conversation_id)
    if conversation is None:
        raise not_found("Conversation", conversation_id)
    now = caller.fake.clock()
    messages = caller.instance.messages
    last = int(messages[-1]["message"]["sequence"]) if messages else 0
    sequence = str(max(int(now * 1_000_000), last + 1))  # Wix's ids here are increasing numbers
    sent = {
        **copy.deepcopy(message),
        "id": sequence,
        "sender": {"appId": caller.grant.app_id},
        "appId": caller.grant.app_id,
        "direction": message.get("direction", "BUSINESS_TO_PARTICIPANT"),
        "visibility": message.get("visibility", "BUSINESS_AND_PARTICIPANT"),
        "sequence": sequence,
        "createdDate": iso(now),
    }
    caller.instance.messages.append(
        {
            "conversationId": conversation_id,
            "participant": copy.deepcopy(conversation["participant"]),
            "sendNotifications": bool(_either(body, "sendNotifications", "send_notifications")),
            "silent": bool(body.get("silent", False)),
            "sendAs": _either(body, "sendAs", "send_as"),
            "message": copy.deepcopy(sent),
        }
    )
    return {"message": sent}


VISIBILITIES = ("BUSINESS", "BUSINESS_AND_PARTICIPANT")


@router.get("/inbox/v2/messages")
async def list_messages(request: Request, caller: CallerDep) -> dict[str, Any]:
    """The conversation's messages, one page at a time, by `sequence` (newest first by default)."""
    params = request.query_params
    conversation_id = params.get("conversationId") or params.get("conversation_id")
    visibility = params.get("visibility")
    order = params.get("sorting.order", "DESC")
    violations = Violations()
    if not conversation_id:
        violations.add("conversationId", "conversationId is required", "REQUIRED_FIELD")
    if visibility not in VISIBILITIES:
        violations.add("visibility", f"one of {', '.join(VISIBILITIES)}", "REQUIRED_FIELD")
    if params.get("sorting.fieldName", "sequence") != "sequence" or order not in ("ASC", "DESC"):
        violations.add("sorting", "messages sort by sequence, ASC or DESC", "FORMAT")
    raw_limit = params.get("paging.limit")
    if raw_limit is not None and not raw_limit.isdigit():
        violations.add("paging.limit", "must be an integer from 0 to 100", "FORMAT")
    violations.check()
    limit = limit_of(int(raw_limit) if raw_limit else None, "paging.limit", default=30)
    if conversation_id not in caller.instance.conversations:
        raise not_found("Conversation", str(conversation_id))
    messages = [
        copy.deepcopy(sent["message"])
        for sent in caller.instance.messages
        if sent["conversationId"] == conversation_id
        and (visibility == "BUSINESS" or sent["message"].get("visibility") == visibility)
    ]
    messages.sort(key=lambda message: int(message["sequence"]), reverse=order == "DESC")
    page, metadata = cursor_page(messages, {"limit": limit, "cursor": params.get("paging.cursor")})
    return {"messages": page, "pagingMetadata": metadata}
