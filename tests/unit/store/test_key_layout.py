"""Keys written before the Redis Cluster layout are renamed under their instance's tag, once, and a key
whose new name is taken is left alone; the renamed data is what the store then reads."""

from __future__ import annotations

import fakeredis
import pytest

from worker import keys
from worker.store import key_layout
from worker.store.key_layout import new_name


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("wrw:program:inst-1", "wrw:program:{inst-1}"),
        ("wrw:program-versions:inst-1", "wrw:program-versions:{inst-1}"),
        ("wrw:stats:inst-1:2026-11-20:members:logged", "wrw:stats:{inst-1}:2026-11-20:members:logged"),
        ("wrw:program:{inst-1}", None),
        ("wrw:{inst-1:c1}:rewards", None),
    ],
)
def test_each_old_name_has_its_new_one(old: str, new: str | None) -> None:
    assert new_name(old) == new


def test_the_upgrade_renames_once_and_never_overwrites() -> None:
    """On the single Redis it runs on (a RENAME cannot cross a cluster's slots)."""
    fake_store = fakeredis.FakeRedis(decode_responses=True)
    fake_store.set("wrw:program:inst-1", '{"version": 3, "document": {}}')
    fake_store.hset("wrw:stats:inst-1:2026-11-20", "events", 7)
    fake_store.hset("wrw:reward-index:inst-1", "rl_1", "c1")
    fake_store.set("wrw:audit-log:inst-2", "old")
    fake_store.set(keys.audit_log("inst-2"), "new")
    result = key_layout.upgrade(fake_store)
    assert (result.renamed, result.left) == (3, ["wrw:audit-log:inst-2"])
    assert fake_store.get(keys.program("inst-1")) == '{"version": 3, "document": {}}'
    assert fake_store.hget(keys.stats_day("inst-1", "2026-11-20"), "events") == "7"
    assert fake_store.hget(keys.reward_index("inst-1"), "rl_1") == "c1"
    assert fake_store.get(keys.audit_log("inst-2")) == "new"
    assert key_layout.upgrade(fake_store).renamed == 0


def test_on_a_cluster_the_upgrade_refuses_and_says_where_to_run_it(cluster_store) -> None:
    with pytest.raises(key_layout.LayoutError, match="single Redis"):
        key_layout.upgrade(cluster_store)


def test_the_storefront_choice_and_the_instance_outbox_move_under_the_instance_tag() -> None:
    """An old-layout Redis upgrades: the site's storefront choice reads as saved, the install intent
    waiting in the instance's outbox is still relayed (its index entry follows it), and a cached loyalty
    account under its old name is deleted (a copy: the next read asks Wix)."""
    from worker.store import outbox, storefront_choice
    from worker.store.storefront_choice import StorefrontChoice

    old_store = fakeredis.FakeRedis(decode_responses=True)
    old_store.hset(
        "wrw:storefront-choice:inst-1",
        mapping={"templateId": "t-2", "themeId": "dark", "floatingWidgetId": "w-1", "shown": "0"},
    )
    intent = outbox.Intent("install", "installs.on_installed", {"instance_id": "inst-1"}, "events")
    old_store.hset("wrw:instance-outbox:inst-1", mapping={intent.id: intent.entry(1000.0)})
    old_store.zadd(keys.OUTBOX_INDEX, {"wrw:instance-outbox:inst-1": 1000.0})
    old_store.set("wrw:cache:loyalty-account:inst-1:c1", '{"points": {"balance": 5}}')

    result = key_layout.upgrade(old_store)

    assert (result.renamed, result.dropped, result.left) == (2, 1, [])
    assert storefront_choice.get(old_store, "inst-1") == StorefrontChoice("t-2", "dark", "w-1", shown=False)
    sent: list[tuple[str, dict[str, object], str]] = []
    assert outbox.relay(old_store, lambda *task: sent.append(task), now=5000.0) == 1
    assert sent == [("installs.on_installed", {"instance_id": "inst-1"}, "events")]
    assert old_store.zrange(keys.OUTBOX_INDEX, 0, -1) == [keys.instance_outbox("inst-1")]
    assert old_store.keys("wrw:cache:*") == []


def test_a_points_change_posted_before_the_upgrade_and_again_after_is_made_once() -> None:
    """The console's points change marks its action under the instance's tag now: the upgrade copies each
    member action mark there (its expiry kept), so the same form posted again changes nothing."""
    from worker.console import members
    from worker.dispatch import RecordedDispatcher

    old_store = fakeredis.FakeRedis(decode_responses=True)
    old_store.sadd(keys.members("site-a"), "c-1")
    action_id = "A" * 24
    old_store.set(f"wrw:{{site-a:c-1}}:action:{action_id}", "1764000000.0", ex=3600)

    assert key_layout.upgrade(old_store).marks_copied == 1

    assert 0 < old_store.ttl(keys.console_action("site-a", action_id)) <= 3600
    follow_ups = RecordedDispatcher()
    form = {"action_id": action_id, "amount": "-20", "reason": "Goodwill correction"}
    outcome = members.adjust_points(old_store, follow_ups, "site-a", "c-1", form, "jane", 3600)
    assert "already" in outcome.notice and follow_ups.resent == []
