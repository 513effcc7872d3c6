"""The path-by-path diff of two program documents, in the validation problems' path notation."""

from __future__ import annotations

import copy

from worker.dev.programs import BASE_PROGRAM
from worker.engine.program_diff import diff_documents


class TestDiffDocuments:
    def test_equal_documents_have_no_changes(self) -> None:
        """A document against its own copy: nothing."""
        assert diff_documents(BASE_PROGRAM, copy.deepcopy(BASE_PROGRAM)) == []

    def test_a_changed_name_and_target_are_named_by_their_paths(self) -> None:
        """A streak's name and a milestone's target, each named by its path."""
        new = copy.deepcopy(BASE_PROGRAM)
        new["streaks"][0]["name"] = "Every week"
        old_target = new["streaks"][0]["milestones"][0]["milestoneTargetValue"]
        new["streaks"][0]["milestones"][0]["milestoneTargetValue"] = 1
        assert diff_documents(BASE_PROGRAM, new) == [
            {"op": "changed", "path": "streaks[0].name", "old": "Weekly shopper", "new": "Every week"},
            {
                "op": "changed",
                "path": "streaks[0].milestones[0].milestoneTargetValue",
                "old": old_target,
                "new": 1,
            },
        ]

    def test_added_and_removed_keys_and_list_items(self) -> None:
        """A new top-level key is added, a dropped one removed, a longer list adds at its new index."""
        old = {"timezone": "UTC", "lateLogGraceHours": 72, "streaks": [{"id": "a"}]}
        new = {"timezone": "UTC", "streaks": [{"id": "a"}, {"id": "b"}], "rules": []}
        assert diff_documents(old, new) == [
            {"op": "removed", "path": "lateLogGraceHours", "old": 72},
            {"op": "added", "path": "streaks[1]", "new": {"id": "b"}},
            {"op": "added", "path": "rules", "new": []},
        ]
        assert {"op": "removed", "path": "streaks[1]", "old": {"id": "b"}} in diff_documents(new, old)

    def test_a_value_that_changes_type_is_changed_whole(self) -> None:
        """A mapping that becomes a list, or 1 that becomes 1.0 or True, is one change at its path."""
        assert diff_documents({"a": {"b": 1}}, {"a": [1]}) == [
            {"op": "changed", "path": "a", "old": {"b": 1}, "new": [1]}
        ]
        assert [c["path"] for c in diff_documents({"a": 1}, {"a": True})] == ["a"]
