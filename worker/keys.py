"""Every Redis key the service writes, in one place. All begin with `wrw:` (Wix rewards worker)."""

from __future__ import annotations

from worker.identifiers import InvalidIdentifier, identifier_problem, is_instance_id

DEAD_LETTERS = "wrw:dlq"
TASK_OUTCOMES = "wrw:metrics:tasks"
# Hash: `outcome|status` → how many Wix calls ended so (worker/wix/call_counts.py), read by `/metrics`.
WIX_CALLS = "wrw:metrics:wix-calls"
# Sorted set: the id of each running job, scored by when it started (worker/jobs/runner.py), for `/metrics`.
JOBS_RUNNING = "wrw:jobs:running"


def _checked_instance(text: str) -> str:
    """`text`, when it is an instance id that may stand in a key (InvalidIdentifier otherwise)."""
    if not is_instance_id(text):
        raise InvalidIdentifier(f"not an instance id for a key: {text[:100]!r}")
    return text


def dead_letter_replay(entry_id: str) -> str:
    """String with a TTL: a console replay of dead letter `entry_id` (a Celery task id) is under way."""
    if not entry_id or len(entry_id) > 200 or any(c in entry_id for c in "*?[]\\ \n\r"):
        raise InvalidIdentifier(f"not a dead letter id for a key: {entry_id[:100]!r}")
    return f"wrw:dlq-replaying:{entry_id}"


def event_record(instance_id: str, event_id: str) -> str:
    """The journal record of one webhook event; its existence is also the event's seen-mark."""
    return f"wrw:journal:{instance_id}:{event_id}"


# Sorted set: the journal record key of each event on its way to a worker, scored by when it was queued
# (or last sent again); the event leaves it when it settles (worker.runtime.lost_events).
QUEUED_EVENTS = "wrw:events:queued"


def event_record_pattern(event_id: str) -> str:
    """A SCAN pattern that finds an event's record in any instance (operator look-ups)."""
    escaped = event_id.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?").replace("[", "\\[")
    return f"wrw:journal:*:{escaped}"


def uid_source(instance_id: str, unique_identifier: str) -> str:
    """Which webhook event first produced a log's identifier (so a re-run reports its own logs)."""
    return f"wrw:uid-source:{instance_id}:{unique_identifier}"


def order_fulfilled(instance_id: str, order_id: str) -> str:
    """Which webhook event emitted `order_fulfilled` for an order (it is emitted once per order)."""
    return f"wrw:order-fulfilled:{instance_id}:{order_id}"


# Points sync with an external loyalty system (worker/points_sync*.py). One hash tag per instance, so the
# mapping's hashes change together in one Lua call (and stay in one slot under Redis Cluster).


def sync_contacts(instance_id: str) -> str:
    """Hash: contact id → `{"email", "revision", "externalId", "deleted"}` (JSON)."""
    return f"wrw:sync:{{{instance_id}}}:contacts"


def sync_emails(instance_id: str) -> str:
    """Hash: lower-cased email → contact id."""
    return f"wrw:sync:{{{instance_id}}}:emails"


def sync_external_ids(instance_id: str) -> str:
    """Hash: the external system's member id → contact id."""
    return f"wrw:sync:{{{instance_id}}}:external-ids"


def sync_webhook_id(instance_id: str, webhook_id: str) -> str:
    """An inbound `webhook-id` already accepted (replays are refused). Per instance: each instance's
    external system makes its own ids, and two systems may well make the same."""
    return f"wrw:sync:{{{instance_id}}}:webhook-id:{webhook_id}"


def sync_inbound(instance_id: str, transaction_id: str) -> str:
    """An external transaction accepted for Wix (its id is our earn-points idempotencyKey)."""
    return f"wrw:sync:{{{instance_id}}}:in:{transaction_id}"


def sync_outbound(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix transaction sent (or being sent) to the external system."""
    return f"wrw:sync:{{{instance_id}}}:out:{wix_transaction_id}"


def sync_own_transaction(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix transaction that inbound sync made (its points_updated event is not sent back out)."""
    return f"wrw:sync:{{{instance_id}}}:own:{wix_transaction_id}"


def own_points_transaction(instance_id: str, wix_transaction_id: str) -> str:
    """A Wix loyalty transaction our app made (earn or adjust answered its id): never echoed back out."""
    return f"wrw:wix:{{{instance_id}}}:own-transaction:{wix_transaction_id}"


def loyalty_account_copy(instance_id: str, contact_id: str) -> str:
    """A short-lived copy of a member's Wix loyalty account (worker.progress.member_progress); every change we
    make through WixClient, and every points_updated webhook, drops it. Under the member's hash tag: a
    redemption drops it in the MULTI that keeps its answer (one slot under Redis Cluster)."""
    return f"{member(instance_id, contact_id)}:cache:loyalty-account"


def loyalty_program_copy(instance_id: str) -> str:
    """A short-lived copy of the site's Wix loyalty program; a program_updated webhook drops it."""
    return f"wrw:cache:loyalty-program:{instance_id}"


# The outbox (worker/store/outbox.py): intents live beside what committed them, under that data's hash tag.

OUTBOX_INDEX = "wrw:outbox-index"
"""Sorted set: outbox key → when an intent was last written there (the relay's list of places to look)."""


def sync_outbox(instance_id: str) -> str:
    """Hash: the instance's points-sync intents (an accepted inbound change's apply task)."""
    return f"wrw:sync:{{{instance_id}}}:outbox"


# Jobs (worker/jobs/runner.py) and what they keep between batches.


def catch_up_mark(instance_id: str) -> str:
    return f"wrw:catch-up-mark:{instance_id}"


def job_record(job_id: str) -> str:
    return f"wrw:job:{job_id}"


def job_unsure(job_id: str) -> str:
    """Items a try of the job may have done without hearing so (a lost answer): found done later, they
    count as done by the job."""
    return f"wrw:job-unsure:{job_id}"


def job_running(instance_id: str, name: str) -> str:
    return f"wrw:job-running:{instance_id}:{name}"


def job_last(instance_id: str, name: str) -> str:
    """String: the id of the instance's most recently started job of that name, written as it starts (the
    console's Home page reads it instead of scanning every job record)."""
    return f"wrw:job-last:{_checked_instance(instance_id)}:{name}"


# The points gate (worker/loyalty/points_gate.py): the Wix loyalty program's status, the points waiting.


def wix_program_status(instance_id: str) -> str:
    return f"wrw:wix-program-status:{instance_id}"


def points_waiting(instance_id: str) -> str:
    return f"wrw:points-waiting:{instance_id}"


# Instance API keys, by the SHA-256 digest of the key (worker/store/api_keys.py).


def api_key(digest: str) -> str:
    return f"wrw:apikey:{digest}"


def api_key_index(instance_id: str) -> str:
    """Hash: key id (the key's first characters) → the key's digest, for listing and revoking."""
    return f"wrw:apikeys:{_checked_instance(instance_id)}"


# A member's progress (worker/store/progress.py): one hash tag `{instanceId:contactId}` per member, so a
# member's keys change together in one MULTI.


def member(instance_id: str, contact_id: str) -> str:
    # The last guard of worker.identifiers' rule: a brace would let an id reach into another key.
    if not is_instance_id(instance_id) or identifier_problem(contact_id) is not None:
        raise InvalidIdentifier(f"not an identifier for a key: {instance_id[:100]!r}, {contact_id[:100]!r}")
    return f"wrw:{{{instance_id}:{contact_id}}}"


def member_state(instance_id: str, contact_id: str, kind: str, item_id: str) -> str:
    return f"{member(instance_id, contact_id)}:{kind}:{item_id}"


def member_log(instance_id: str, contact_id: str, unique_identifier: str) -> str:
    return f"{member(instance_id, contact_id)}:uid:{unique_identifier}"


def member_reward(instance_id: str, contact_id: str, reward_log_id: str) -> str:
    return f"{member(instance_id, contact_id)}:reward:{reward_log_id}"


def member_outbox(instance_id: str, contact_id: str) -> str:
    """The member's outbox: intent id → a task still to send (worker/store/outbox.py)."""
    return f"{member(instance_id, contact_id)}:outbox"


def member_rewards(instance_id: str, contact_id: str) -> str:
    return f"{member(instance_id, contact_id)}:rewards"


def member_closed(instance_id: str, contact_id: str) -> str:
    """The member's progress records closed for good, `{kind}:{itemId}:{runOrWindow}` → record."""
    return f"{member(instance_id, contact_id)}:closed"


def reward_index(instance_id: str) -> str:
    """Hash: reward log id → its contact id. Under the instance's tag `{instanceId}`, with `reward_times`:
    both change in one MULTI (one slot under Redis Cluster)."""
    return f"wrw:reward-index:{{{_checked_instance(instance_id)}}}"


def members(instance_id: str) -> str:
    """Every contact of the instance with a log (the sweep's list of members)."""
    return f"wrw:members:{instance_id}"


def program(instance_id: str) -> str:
    """JSON: the live program. Under the instance's tag `{instanceId}`, with its draft, versions and audit
    log: a publish changes them in one WATCH/MULTI (one slot under Redis Cluster)."""
    return f"wrw:program:{{{_checked_instance(instance_id)}}}"


PROGRAMS = "wrw:program:*"
"""A SCAN pattern for every instance's program (the instances beat starts jobs for)."""


def program_instance(key: str) -> str:
    """The instance id in a `program` key."""
    return key.removeprefix("wrw:program:").removeprefix("{").removesuffix("}")


# The Wix client's shared state (worker/wix/): access tokens, their refresh lock, the rate limiter.


def wix_token(instance_id: str) -> str:
    return f"wrw:wix:token:{instance_id}"


def wix_token_lock(instance_id: str) -> str:
    return f"wrw:wix:token-lock:{instance_id}"


def wix_rate(instance_id: str) -> str:
    """The sorted set of one instance's recent Wix calls."""
    return f"wrw:wix:rate:{instance_id}"


# The monthly balance messages (worker/jobs/monthly_messages.py).


def monthly_messages_marks(instance_id: str, month: str) -> str:
    """Each member's mark for the month: `sending` or `sent` (JSON by member id)."""
    return f"wrw:monthly-messages:{instance_id}:{month}"


def monthly_messages_complete(instance_id: str, month: str) -> str:
    """Set when a run of the month went through every account with nothing failed."""
    return f"wrw:monthly-messages-complete:{instance_id}:{month}"


def inbox_conversations(instance_id: str) -> str:
    """Inbox conversation ids by member id."""
    return f"wrw:inbox-conversations:{instance_id}"


# Per-site settings (worker/store/site_settings.py): an instance's own points-sync URL, secret and matching,
# auto-bootstrap and reward-expiring notice days; unset fields fall back to the environment's.


def site_settings(instance_id: str) -> str:
    """Hash: field name → its JSON value, for the fields the instance has set."""
    return f"wrw:site-settings:{_checked_instance(instance_id)}"


SITE_SYNC_SECRETS = "wrw:site-sync-secrets"
"""Set: the instances that have their own points-sync secret (whether the sync is configured anywhere)."""


# Erasure (worker/members/erasure.py): what is left of an erased member is counts and a one-way digest.


def glob_escape(text: str) -> str:
    """`text` as a literal inside a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def member_pattern(instance_id: str, contact_id: str) -> str:
    """A SCAN pattern for every key under the member's hash tag (whatever the suffix)."""
    return glob_escape(member(instance_id, contact_id)) + ":*"


def event_records_of(instance_id: str) -> str:
    """A SCAN pattern for every journal record of one instance."""
    return f"wrw:journal:{glob_escape(instance_id)}:*"


def sync_inbound_pattern(instance_id: str) -> str:
    """A SCAN pattern for the instance's inbound sync records (`sync_inbound`)."""
    return f"wrw:sync:{{{glob_escape(instance_id)}}}:in:*"


def erased_counts(instance_id: str) -> str:
    """Hash: what the instance's erasures removed, as counts (`members`, `logs`, `rewardLogs`, `coupons`,
    `rewardLogs.<status>`): figures about the instance stay right after its members are erased."""
    return f"wrw:erased:{{{_checked_instance(instance_id)}}}:counts"


def erased_contacts(instance_id: str) -> str:
    """Set: the SHA-256 digest of each contact deleted in Wix and erased here (no contact id): a late event
    about one is ignored."""
    return f"wrw:erased:{{{_checked_instance(instance_id)}}}:deleted"


def erasure_pending(instance_id: str, digest: str) -> str:
    """An erasure under way (its counts, added to `erased_counts` once); removed when it completes."""
    return f"wrw:erased:{{{_checked_instance(instance_id)}}}:pending:{digest}"


JOB_RECORDS = "wrw:job:*"
"""A SCAN pattern for every job's record (`job_record`)."""


def job_id_of(record_key: str) -> str:
    """The job id in a `job_record` key."""
    return record_key.removeprefix("wrw:job:")


def monthly_messages_pattern(instance_id: str) -> str:
    """A SCAN pattern for the instance's monthly marks of every month (`monthly_messages_marks`)."""
    return f"wrw:monthly-messages:{glob_escape(instance_id)}:*"


# The instance registry (worker/store/instances.py): one hash per Wix site that installed the app, an index
# of every instance by install time, and the removed ones by removal time (the purge's list).


def instance(instance_id: str) -> str:
    """Hash: `status` (installed|removed), `installedAt`, `removedAt`, `lastEventAt`, the embedding, the Wix
    loyalty program status read at install."""
    return f"wrw:instance:{instance_id}"


INSTANCES = "wrw:instances"
"""Sorted set: instance id → when it was first installed (epoch seconds): the admin's list."""

REMOVED_INSTANCES = "wrw:instances:removed"
"""Sorted set: instance id → when it was removed (epoch seconds); a reinstall takes it out."""


def instance_key_patterns(instance_id: str) -> list[str]:
    """SCAN patterns for every key that holds an instance's data (the purge after removal). A new key
    builder scoped to an instance adds its pattern here (tests/unit/store/test_instances.py checks)."""
    if not is_instance_id(instance_id):
        raise InvalidIdentifier(f"not an instance id: {instance_id[:100]!r}")
    i = instance_id
    return [
        f"wrw:{{{i}:*",  # every member's progress, reward logs, outbox (hash tag `{instanceId:contactId}`)
        f"wrw:journal:{i}:*",
        f"wrw:uid-source:{i}:*",
        f"wrw:order-fulfilled:{i}:*",
        f"wrw:sync:{{{i}}}:*",
        f"wrw:wix:{{{i}}}:*",
        f"wrw:cache:loyalty-account:{i}:*",
        loyalty_program_copy(i),
        catch_up_mark(i),
        f"wrw:job-running:{i}:*",
        f"wrw:job-last:{i}:*",
        wix_program_status(i),
        points_waiting(i),
        reward_index(i),
        members(i),
        program(i),
        wix_token(i),
        wix_token_lock(i),
        wix_rate(i),
        f"wrw:monthly-messages:{i}:*",
        f"wrw:monthly-messages-complete:{i}:*",
        inbox_conversations(i),
        site_settings(i),
        instance_outbox(i),
        f"wrw:erased:{{{i}}}:*",
        program_draft(i),
        program_versions(i),
        audit_log(i),
        coupon_codes(i),
        storefront_choice(i),
        reward_times(i),
        job_runs(i),
        f"wrw:stats:{{{i}}}:*",
        api_key_index(i),
        loyalty_tiers_copy(i),
        loyalty_rewards_copy(i),
        f"wrw:referrals:{{{i}}}:*",
        f"wrw:caps:{{{i}}}:*",
        f"wrw:cache:product-collections:{i}:*",
        birthdays_last_day(i),
        f"wrw:console-action:{{{i}}}:*",
    ]


# Automation triggers decided once (worker/store/trigger_marks.py).


def member_trigger_mark(instance_id: str, contact_id: str, mark_digest: str) -> str:
    """Set once a trigger event about the member was decided (its intent written beside it); the mark's
    digest (hex) names the trigger key and business entity, so no outside text reaches the key."""
    if not mark_digest.isalnum():
        raise InvalidIdentifier("a trigger mark is a hex digest")
    return f"{member(instance_id, contact_id)}:trigger:{mark_digest}"


def instance_outbox(instance_id: str) -> str:
    """Hash: intents of the instance's own tasks not yet taken (worker/store/outbox.py): the install."""
    return f"wrw:instance-outbox:{{{_checked_instance(instance_id)}}}"


# The programme's drafts, published versions and the audit log (worker/store/program_versions.py,
# worker/store/audit_log.py). Not under `wrw:program:`, which the beat SCANs for live programs.


def program_draft(instance_id: str) -> str:
    """JSON: the instance's unpublished program draft ({document, who, at})."""
    return f"wrw:program-draft:{{{_checked_instance(instance_id)}}}"


def program_versions(instance_id: str) -> str:
    """Hash: each published version of the instance's program (number -> {version, who, at, note,
    document}), the oldest trimmed."""
    return f"wrw:program-versions:{{{_checked_instance(instance_id)}}}"


def audit_log(instance_id: str) -> str:
    """List: the instance's audit entries ({at, who, action, details}), newest first, trimmed."""
    return f"wrw:audit-log:{{{_checked_instance(instance_id)}}}"


# Reward coupons by code (worker/store/coupon_codes.py): an order's applied coupon finds its reward log.


def coupon_codes(instance_id: str) -> str:
    """Hash: coupon code → `{"contactId", "rewardLogId"}` (JSON) of the reward log stamped with it. A code
    is a field, never part of a key name, so no code (untrusted text from an order) reaches another key."""
    return f"wrw:coupon-codes:{_checked_instance(instance_id)}"


# The storefront widget's choice per site (worker/store/storefront_choice.py).


def storefront_choice(instance_id: str) -> str:
    """Hash: the template, theme and floating widget ids the site's embedded script names, and whether the
    widget is shown (`shown`: "1" or "0"). Under the instance's tag `{instanceId}`, with the instance's
    outbox and audit log: a save writes the three in one MULTI (one slot under Redis Cluster)."""
    return f"wrw:storefront-choice:{{{_checked_instance(instance_id)}}}"


# The instance's reward logs by time (worker/store/reward_listing.py): the console's Rewards page pages it.


def reward_times(instance_id: str) -> str:
    """Sorted set: reward log id → its `createdAt` (epoch seconds), every reward log of the instance."""
    return f"wrw:reward-times:{{{_checked_instance(instance_id)}}}"


# The operations room (worker/console/job_runs.py).


def job_runs(instance_id: str) -> str:
    """Sorted set: the instance's job ids by when each started (epoch seconds), the newest
    `worker.jobs.runner.RUNS_KEPT`: the console lists a site's runs without scanning every job record."""
    return f"wrw:job-runs:{_checked_instance(instance_id)}"


# The console's member page (worker/console/members.py): under the member's hash tag, so the purge of the
# instance and the erasure of the member take them with the rest of the member's keys.


def member_status(instance_id: str, contact_id: str) -> str:
    """`paused` while the member is paused in the programme; absent: `live` (store/member_status.py)."""
    return f"{member(instance_id, contact_id)}:status"


def member_events(instance_id: str, contact_id: str) -> str:
    """Sorted set: the member's journal event ids, scored by when each settled (worker/store/journal.py)."""
    return f"{member(instance_id, contact_id)}:events"


def member_action(instance_id: str, contact_id: str, action_id: str) -> str:
    """Set once the console action with this id (minted into its form) took effect: once only."""
    return f"{member(instance_id, contact_id)}:action:{action_id}"


# Analytics counts (worker/store/stats.py, read by worker/analytics/overview.py): per instance per UTC day,
# under the instance's tag `{instanceId}`: one Lua call writes a step's counts (one slot under Redis Cluster).


def stats_day(instance_id: str, day: str) -> str:
    """Hash: the day's counts (`events`, `logs`, `rewardLogs.issued.coupon`, `item|streak|s1|logs`, ...)."""
    return f"wrw:stats:{{{_checked_instance(instance_id)}}}:{day}"


def stats_members(instance_id: str, day: str, stage: str) -> str:
    """HyperLogLog: the distinct members of the day at a stage (`logged`, `milestone`, `issued`, `redeemed`,
    or `item|{kind}|{itemId}`)."""
    return f"wrw:stats:{{{_checked_instance(instance_id)}}}:{day}:members:{stage}"


def stats_alive(instance_id: str) -> str:
    """Hash: streak runs started and not yet closed, now (`streaks`, `item|streak|{itemId}`)."""
    return f"wrw:stats:{{{_checked_instance(instance_id)}}}:alive"


def stats_counted_order(instance_id: str, purpose: str, order_id: str) -> str:
    """Set once an order (or a points earn, by its key's digest) was counted for `purpose` (`paid`,
    `redeemed`, `earn`): each counts once."""
    return f"wrw:stats:{{{_checked_instance(instance_id)}}}:order:{purpose}:{order_id}"


# Loyalty tiers (worker/loyalty/tiers.py, worker/progress/tiers.py).


def member_tier(instance_id: str, contact_id: str) -> str:
    """Hash: the member's last known Wix tier (`tier`, "" for the base tier), the account `revision` it was
    seen at, and the last change (`changeRevision`, `changeFrom`, `changeTo`), so a change reports once."""
    return f"{member(instance_id, contact_id)}:tier"


def loyalty_tiers_copy(instance_id: str) -> str:
    """A short-lived copy of the site's Wix tiers program (`GET /loyalty-tiers/v1/tiers/program`)."""
    return f"wrw:cache:loyalty-tiers:{_checked_instance(instance_id)}"


# Shoppers spending points (worker/loyalty/spending.py); a member's keys live under the member's hash tag.


def member_redemption(instance_id: str, contact_id: str, request_digest: str) -> str:
    """String (JSON): one redemption of points for a coupon, by the digest (hex) of its request id:
    `pending` while Wix may be redeeming it, then `done` with the coupon, so a retry answers the same."""
    if not request_digest.isalnum():
        raise InvalidIdentifier("a redemption key is a hex digest")
    return f"{member(instance_id, contact_id)}:redeem:{request_digest}"


def member_redeem_lock(instance_id: str, contact_id: str) -> str:
    """String with a TTL: the member's one redemption under way (Wix's redeem takes no idempotency key)."""
    return f"{member(instance_id, contact_id)}:redeem-lock"


def member_redeemed_coupons(instance_id: str, contact_id: str) -> str:
    """Set: the Wix loyalty coupon ids a redemption of ours already answered (a look-up claims each once)."""
    return f"{member(instance_id, contact_id)}:redeemed-coupons"


def loyalty_rewards_copy(instance_id: str) -> str:
    """A short-lived copy of the site's Wix loyalty rewards catalog (the widget's *Spend points*)."""
    return f"wrw:cache:loyalty-rewards:{_checked_instance(instance_id)}"


# Cancellations and refunds (worker/store/order_reversals.py): under the member's hash tag, so the purge of
# the instance and the erasure of the member take them too.


def member_order_points(instance_id: str, contact_id: str, entity_id: str) -> str:
    """Hash about one order (or the checkout it came from): what its points rules earned (`earn:{key}`),
    whether it was reversed (`reversed`), which adjustment covers each earn (`covered:{key}`), each
    adjustment's points (`adj:{id}`) and outcome (`done:{id}`), and its voided logs (`voided:{uid}`)."""
    problem = identifier_problem(entity_id)
    if problem is not None:
        raise InvalidIdentifier(f"not an order id for a key: {problem}")
    return f"{member(instance_id, contact_id)}:order-points:{entity_id}"


# Referrals (worker/loyalty/referral_records.py): one hash tag per instance, `{instanceId}`, so a referral's
# decision, its referrer's cap counter and the due index change together in one MULTI.


def _referrals(instance_id: str, *parts: str) -> str:
    for part in parts:
        if identifier_problem(part) is not None:
            raise InvalidIdentifier(f"not an identifier for a referral key: {part[:100]!r}")
    return ":".join((f"wrw:referrals:{{{_checked_instance(instance_id)}}}", *parts))


def referral_code(instance_id: str, code: str) -> str:
    """String: the contact id of the member whose referral code this is."""
    return _referrals(instance_id, "code", code)


def referral_member_code(instance_id: str, contact_id: str) -> str:
    """String: the member's own referral code (made on first ask, never changed)."""
    return _referrals(instance_id, "member", contact_id)


def referral(instance_id: str, friend_id: str) -> str:
    """String (JSON): the referral of a friend (a contact is referred once), with its decisions."""
    return _referrals(instance_id, "friend", friend_id)


def referral_first_order(instance_id: str, contact_id: str) -> str:
    """String: the id of the contact's first paid order seen (set once)."""
    return _referrals(instance_id, "first-order", contact_id)


def referral_emails(instance_id: str, contact_id: str) -> str:
    """Set: the (lower-cased) buyer emails of the contact's paid orders (the same-email check)."""
    return _referrals(instance_id, "emails", contact_id)


def referral_canceled(instance_id: str, order_id: str) -> str:
    """String: set once the order was cancelled (a cancel may arrive before the payment)."""
    return _referrals(instance_id, "canceled", order_id)


def referral_cap(instance_id: str, referrer_id: str, period_key: str) -> str:
    """Counter: the referrer's referrals held or rewarded in one period (the `maxPerPeriod` cap)."""
    return _referrals(instance_id, "cap", referrer_id, period_key)


def referrals_due(instance_id: str) -> str:
    """Sorted set: friend contact id → when its held referral is released (epoch seconds)."""
    return _referrals(instance_id, "due")


def referral_orders(instance_id: str, contact_id: str) -> str:
    """Sorted set: the contact's last paid order ids by payment time (the same-payment check)."""
    return _referrals(instance_id, "orders", contact_id)


# Points caps and budgets (worker/store/points_caps.py): one hash tag per instance, so one Lua call
# reserves against a member's counter and the rule's budget together (one slot under Redis Cluster).


def _cap_part(text: str) -> str:
    if identifier_problem(text) is not None:
        raise InvalidIdentifier(f"not a caps key part: {text[:40]!r}")
    return text


def points_grant(instance_id: str, key_digest: str) -> str:
    """String: `granted:why` of one earn, by its idempotency key's digest (hex)."""
    return f"wrw:caps:{{{_checked_instance(instance_id)}}}:grant:{_cap_part(key_digest)}"


def points_member_used(instance_id: str, rule: str, period: str) -> str:
    """Hash: contact id -> points the rule (its position) granted the member in the period
    (`monthly:2026-03-01`)."""
    return f"wrw:caps:{{{_checked_instance(instance_id)}}}:member:{_cap_part(rule)}:{_cap_part(period)}"


def points_member_used_pattern(instance_id: str) -> str:
    """A SCAN pattern for the instance's member counters (a member's erasure removes their field)."""
    return f"wrw:caps:{{{_checked_instance(instance_id)}}}:member:*"


def points_budget_used(instance_id: str, rule: str, period: str) -> str:
    """String: points the rule (its position) granted all members in the period."""
    return f"wrw:caps:{{{_checked_instance(instance_id)}}}:budget:{_cap_part(rule)}:{_cap_part(period)}"


# Earning beyond orders (worker/loyalty/earning.py, worker/jobs/birthdays.py).


def member_first_order(instance_id: str, contact_id: str) -> str:
    """String: the id of the member's first paid order we saw (SET NX: of two at once, one is first)."""
    return f"{member(instance_id, contact_id)}:first-order"


def member_activity_earned(instance_id: str, contact_id: str, unique_identifier: str) -> str:
    """Set once a custom activity recorded through `POST /v1/activities` committed its points' intent."""
    if identifier_problem(unique_identifier, 300) is not None:
        raise InvalidIdentifier(f"not an identifier for a key: {unique_identifier[:100]!r}")
    return f"{member(instance_id, contact_id)}:activity:{unique_identifier}"


def product_collections(instance_id: str, product_id: str) -> str:
    """A short-lived copy of a Wix Stores product's `collectionIds` (JSON list)."""
    if identifier_problem(product_id) is not None:
        raise InvalidIdentifier(f"not a product id for a key: {product_id[:100]!r}")
    return f"wrw:cache:product-collections:{_checked_instance(instance_id)}:{product_id}"


def birthdays_last_day(instance_id: str) -> str:
    """String: the last local day (YYYY-MM-DD) the `birthdays` job went through every contact for."""
    return f"wrw:birthdays:{_checked_instance(instance_id)}"


# The console's member actions on instance-wide keys (worker/console/members.py `_once`).


def console_action(instance_id: str, action_id: str) -> str:
    """Set once the console action with this id (minted into its form) took effect, for an action whose
    effect is instance-wide (a points change's sync record and intent): under the instance's tag, with
    them and the audit log, in one MULTI (one slot under Redis Cluster)."""
    if identifier_problem(action_id) is not None:
        raise InvalidIdentifier(f"not an action id for a key: {action_id[:100]!r}")
    return f"wrw:console-action:{{{_checked_instance(instance_id)}}}:{action_id}"
