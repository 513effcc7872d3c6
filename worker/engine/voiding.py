"""Voiding logs: a cancelled or refunded order's logs stop counting (worker/rewards/reversal.py).

Progress is always computed from a member's applied logs, so a voided log is simply taken out of them
(and out of the late ones, kept but never counted): the next look at the progress, and the next log,
see the member as if it had never happened. The milestones already rewarded stay rewarded (`achieved`):
a reward is kept or revoked by the program's `onCancel`, never given twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def void_logs(
    state: dict[str, Any], is_voided: Callable[[str], bool]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored state (`{"logs", "late", ...}`) without the logs whose uniqueIdentifier `is_voided`,
    and the logs taken out (applied ones first). The other fields are kept as they are."""
    voided: list[dict[str, Any]] = []
    new = dict(state)
    for field in ("logs", "late"):
        kept: list[dict[str, Any]] = []
        for log in state.get(field) or []:
            (voided if is_voided(str(log.get("uniqueIdentifier"))) else kept).append(log)
        if field in state:
            new[field] = kept
    return new, voided
