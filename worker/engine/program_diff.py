"""A path-by-path diff of two program documents, in the validation problems' path notation
(`streaks[0].milestones[1].milestoneTargetValue`): what was added, removed or changed, with the old and
the new value. Lists are compared by position, mappings by key (the older document's keys first, then
the new ones)."""

from __future__ import annotations

from typing import Any

Change = dict[str, Any]


def _join(path: str, part: int | str) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _walk(path: str, old: Any, new: Any, changes: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old.keys(), *(k for k in new if k not in old)]:
            where = _join(path, str(key))
            if key not in new:
                changes.append({"op": "removed", "path": where, "old": old[key]})
            elif key not in old:
                changes.append({"op": "added", "path": where, "new": new[key]})
            else:
                _walk(where, old[key], new[key], changes)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            where = _join(path, index)
            if index >= len(new):
                changes.append({"op": "removed", "path": where, "old": old[index]})
            elif index >= len(old):
                changes.append({"op": "added", "path": where, "new": new[index]})
            else:
                _walk(where, old[index], new[index], changes)
    elif type(old) is not type(new) or old != new:
        changes.append({"op": "changed", "path": path or "(document)", "old": old, "new": new})


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference from `old` to `new`, each {op, path, old?, new?}; empty when they are equal."""
    changes: list[Change] = []
    _walk("", old, new, changes)
    return changes
