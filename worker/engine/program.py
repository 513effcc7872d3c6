"""The program document: a merchant's streaks, challenges, milestones, rules and points rules.

Field names follow Gamopanda's resources (seed 000; DESIGN.md "The program document"). Validation
reports every problem at once, each with its path (`streaks[0].milestones[1].milestoneTargetValue:
must be > 0`), so a merchant fixes the whole document in one go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.engine.storefront import (
    DEFAULT_ID,
    FloatingWidget,
    Template,
    Theme,
    find_floating_widget,
    find_template,
    find_theme,
    resolved_copy,
    storefront_problems,
)

Status = Literal["draft", "live", "paused"]
Method = Literal["count", "sum"]
Period = Literal["daily", "weekly", "monthly"]
CapPeriod = Literal["daily", "weekly", "monthly", "yearly"]  # caps and budgets (worker/engine/periods.py)
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CouponSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    percentOffRate: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    moneyOffAmount: Positive | None = None
    freeShipping: bool | None = None
    minimumSubtotal: Positive | None = None


class Reward(_Strict):
    type: Literal["coupon", "points", "manual"]
    coupon: CouponSpec | None = None
    points: Annotated[int, Field(gt=0, le=9_999_999)] | None = None
    validDays: Annotated[int, Field(gt=0, le=3650)] | None = None
    # Issued at most this many times per member and period (program timezone): worker/engine/caps.py.
    maxPerPeriod: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    period: CapPeriod | None = None


class Milestone(_Strict):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    milestoneTargetValue: Positive
    rewardInstructions: str | None = None
    reward: Reward | None = None


class Streak(_Strict):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    status: Status = "draft"
    activityIds: Annotated[list[Identifier], Field(min_length=1)]
    aggregationMethod: Method
    aggregationPeriod: Period
    aggregationTargetValue: Positive
    completionTargetValue: Annotated[int, Field(gt=0)] | None = None
    milestones: list[Milestone] = []


class Window(_Strict):
    startsAt: datetime
    endsAt: datetime


class Challenge(_Strict):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    status: Status = "draft"
    activityIds: Annotated[list[Identifier], Field(min_length=1)]
    aggregationMethod: Method
    aggregationPeriod: Period | None = None
    window: Window | None = None
    completionTargetValue: Positive
    milestones: list[Milestone] = []


class Rule(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    on: Identifier
    streak: Identifier | None = None
    challenge: Identifier | None = None
    activityId: Identifier
    value: Annotated[str, Field(pattern=r"^(count|[A-Za-z]+(\.[A-Za-z]+)*)$")] = "count"


class PointsBudget(_Strict):
    """A rule's global budget: at most `points` earned by all members together per period."""

    points: Annotated[int, Field(gt=0, le=2_000_000_000)]
    period: CapPeriod


class OrderConditions(_Strict):
    """`pointsRules[].when`: what an order (or checkout) must be for its rule to earn (docs/programs.md)."""

    minimumTotal: Positive | None = None
    productIds: Annotated[list[Identifier], Field(min_length=1, max_length=100)] | None = None
    collectionIds: Annotated[list[Identifier], Field(min_length=1, max_length=100)] | None = None
    firstOrderOnly: bool | None = None


class PointsRule(_Strict):
    on: Identifier | None = None
    activity: Identifier | None = None
    points: Annotated[int, Field(gt=0, le=9_999_999)]
    per: Positive | None = None
    when: OrderConditions | None = None
    # Caps and multipliers (worker/loyalty/points_limits.py, worker/store/points_caps.py).
    tierMultipliers: dict[Annotated[str, Field(min_length=1, max_length=100)], Positive] = {}
    maxPerPeriod: Annotated[int, Field(gt=0, le=2_000_000_000)] | None = None
    period: CapPeriod | None = None
    budget: PointsBudget | None = None


class BonusWindow(_Strict):
    """Points x `multiplier` for events that occurred in [startsAt, endsAt); with `productIds`, only the
    share of the order those products make; with `rules`, only for those pointsRules (by index)."""

    id: Identifier
    multiplier: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]
    startsAt: datetime
    endsAt: datetime
    productIds: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    rules: list[Annotated[int, Field(ge=0)]] | None = None


class Referrals(_Strict):
    """A referral programme (worker/loyalty/referral_*.py): what each side earns for a friend's first paid
    order, how long the reward waits (the return window) and how many referrals a member is rewarded for
    per period. Validated by `referral_problems`."""

    referrerReward: Reward
    friendReward: Reward
    holdDays: Annotated[int, Field(ge=0, le=365)] = 14
    maxPerPeriod: Annotated[int, Field(gt=0, le=10_000)] | None = None
    period: Period = "monthly"


class Program(_Strict):
    timezone: str = "UTC"
    lateLogGraceHours: Annotated[int, Field(ge=0, le=24 * 30)] = 72
    streaks: list[Streak] = []
    challenges: list[Challenge] = []
    rules: list[Rule] = []
    pointsRules: list[PointsRule] = []
    bonusWindows: list[BonusWindow] = []
    templates: list[Template] = []  # the storefront widget's (worker/engine/storefront.py)
    themes: list[Theme] = []
    floatingWidgets: list[FloatingWidget] = []
    # What a cancelled or refunded order does to the rewards its logs earned (worker/rewards/reversal.py).
    onCancel: Literal["keep", "revoke"] = "keep"
    referrals: Referrals | None = None  # no section: no referral links, nothing rewarded

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def streak(self, streak_id: str) -> Streak | None:
        return next((streak for streak in self.streaks if streak.id == streak_id), None)

    def challenge(self, challenge_id: str) -> Challenge | None:
        return next((challenge for challenge in self.challenges if challenge.id == challenge_id), None)

    # The storefront's look-ups: an id the program does not define is the built-in `default`, or
    # `UnknownResource` (worker/engine/storefront.py).

    def template(self, template_id: str) -> Template:
        return find_template(self.templates, template_id)

    def theme(self, theme_id: str) -> Theme:
        return find_theme(self.themes, theme_id)

    def floating_widget(self, widget_id: str) -> FloatingWidget:
        return find_floating_widget(self.floatingWidgets, widget_id)

    def copy_for(self, template_id: str = DEFAULT_ID, locale: str | None = None) -> dict[str, str]:
        """The template's copy for the best match of `locale` (None: the default locale), every key filled.

        For other parts of the service that speak to members, e.g. the monthly balance message's
        `callToAction`. An unknown template id raises `UnknownResource`.
        """
        template = self.template(template_id)
        return resolved_copy(template, template.locale_for(locale))


class ProgramInvalid(ValueError):
    """The document has problems; `problems` lists each as {"path", "message"}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['path']}: {p['message']}" for p in problems))
        self.problems = problems


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _semantic_problems(program: Program) -> list[tuple[str, str]]:
    """What the field types cannot say: uniqueness, references, and rules across fields."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    groups: tuple[tuple[str, Sequence[Streak | Challenge]], ...] = (
        ("streaks", program.streaks),
        ("challenges", program.challenges),
    )
    for kind, items in groups:
        for index, item in enumerate(items):
            where = f"{kind}[{index}]"
            if item.id in seen:
                problems.append((f"{where}.id", f"duplicates the id of {seen[item.id]}"))
            seen.setdefault(item.id, where)
            milestone_ids: set[str] = set()
            for m_index, milestone in enumerate(item.milestones):
                m_where = f"{where}.milestones[{m_index}]"
                if milestone.id in milestone_ids:
                    problems.append((f"{m_where}.id", "duplicates another milestone id of the same item"))
                milestone_ids.add(milestone.id)
                limit = item.completionTargetValue
                if limit is not None and milestone.milestoneTargetValue > limit:
                    problems.append(
                        (f"{m_where}.milestoneTargetValue", f"must be <= completionTargetValue ({limit})")
                    )
                whole = milestone.milestoneTargetValue == int(milestone.milestoneTargetValue)
                if isinstance(item, Streak) and not whole:
                    problems.append(
                        (f"{m_where}.milestoneTargetValue", "must be a whole number of periods for a streak")
                    )
                problems.extend(_reward_problems(f"{m_where}.reward", milestone.reward))
            if (
                isinstance(item, Streak)
                and item.aggregationMethod == "count"
                and item.aggregationTargetValue != int(item.aggregationTargetValue)
            ):
                problems.append((f"{where}.aggregationTargetValue", "must be a whole number for count"))
    for index, challenge in enumerate(program.challenges):
        where = f"challenges[{index}]"
        if (challenge.aggregationPeriod is None) == (challenge.window is None):
            problems.append((where, "needs exactly one of aggregationPeriod and window"))
        if challenge.window is not None:
            window = challenge.window
            for field, moment in (("startsAt", window.startsAt), ("endsAt", window.endsAt)):
                if moment.tzinfo is None:
                    problems.append((f"{where}.window.{field}", "must include a timezone offset"))
            if window.startsAt.tzinfo and window.endsAt.tzinfo and window.endsAt <= window.startsAt:
                problems.append((f"{where}.window.endsAt", "must be after startsAt"))
    for index, rule in enumerate(program.rules):
        where = f"rules[{index}]"
        if (rule.streak is None) == (rule.challenge is None):
            problems.append((where, "needs exactly one of streak and challenge"))
            continue
        target: Streak | Challenge | None = (
            program.streak(rule.streak)
            if rule.streak is not None
            else program.challenge(rule.challenge or "")
        )
        field = "streak" if rule.streak is not None else "challenge"
        if target is None:
            problems.append((f"{where}.{field}", f"no {field} with id {getattr(rule, field)!r}"))
        elif rule.activityId not in target.activityIds:
            problems.append(
                (f"{where}.activityId", f"{field} {target.id!r} does not take {rule.activityId!r}")
            )
    return problems


# The events a points rule's `on` names that have no total (a flat rule's), and the order events.
FLAT_EVENTS = frozenset({"member_created", "birthday"})
ORDER_EVENTS = frozenset({"order_approved", "order_paid", "order_fulfilled", "order_canceled"})


def points_rule_problems(rules: Sequence[PointsRule]) -> list[tuple[str, str]]:
    """`pointsRules`: exactly one of `on` and `activity`; `per` and `when` not on an activity nor on an
    event without a total (`member_created`, `birthday`); `firstOrderOnly` on order rules only. Any
    other `on` stays allowed (a rule on an event that never comes earns nothing), so a stored program
    valid before stays valid."""
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(rules):
        where = f"pointsRules[{index}]"
        if (rule.on is None) == (rule.activity is None):
            problems.append((where, "needs exactly one of on and activity"))
            continue
        flat = rule.activity is not None or rule.on in FLAT_EVENTS
        if rule.per is not None and flat:
            problems.append((f"{where}.per", "only for the order and checkout events (they have a total)"))
        if rule.when is not None and flat:
            problems.append((f"{where}.when", "only for the order and checkout events"))
        elif rule.when is not None and rule.when.firstOrderOnly and rule.on not in ORDER_EVENTS:
            problems.append((f"{where}.when.firstOrderOnly", "only for the order events (a paid order)"))
    return problems


def _reward_problems(where: str, reward: Reward | None) -> list[tuple[str, str]]:
    if reward is None:
        return []
    problems: list[tuple[str, str]] = []
    if reward.type == "coupon":
        if reward.coupon is None:
            problems.append((f"{where}.coupon", "is required for a coupon reward"))
        else:
            behaviours = [
                name
                for name in ("percentOffRate", "moneyOffAmount", "freeShipping")
                if getattr(reward.coupon, name) not in (None, False)
            ]
            if len(behaviours) != 1:
                problems.append(
                    (f"{where}.coupon", "needs exactly one of percentOffRate, moneyOffAmount, freeShipping")
                )
    elif reward.type == "points" and reward.points is None:
        problems.append((f"{where}.points", "is required for a points reward"))
    return problems


def referral_problems(referrals: Referrals | None) -> list[tuple[str, str]]:
    """A referral reward is Wix loyalty points or a coupon (a manual one would have nobody to issue it)."""
    if referrals is None:
        return []
    problems: list[tuple[str, str]] = []
    for side in ("referrerReward", "friendReward"):
        reward: Reward = getattr(referrals, side)
        if reward.type == "manual":
            problems.append((f"referrals.{side}.type", "must be points or coupon for a referral reward"))
        problems.extend(_reward_problems(f"referrals.{side}", reward))
    return problems


def _caps_problems(program: Program) -> list[tuple[str, str]]:
    """Caps, budgets and bonus windows: what goes together, and windows' dates and references."""
    problems: list[tuple[str, str]] = []
    capped: list[tuple[str, PointsRule | Reward]] = [
        (f"pointsRules[{index}]", rule) for index, rule in enumerate(program.pointsRules)
    ]
    groups: tuple[tuple[str, Sequence[Streak | Challenge]], ...] = (
        ("streaks", program.streaks),
        ("challenges", program.challenges),
    )
    for kind, items in groups:
        for index, item in enumerate(items):
            for m_index, milestone in enumerate(item.milestones):
                if milestone.reward is not None:
                    capped.append((f"{kind}[{index}].milestones[{m_index}].reward", milestone.reward))
    for where, holder in capped:
        if (holder.maxPerPeriod is None) != (holder.period is None):
            problems.append((where, "maxPerPeriod and period go together: give both or neither"))
    seen: set[str] = set()
    for index, window in enumerate(program.bonusWindows):
        where = f"bonusWindows[{index}]"
        if window.id in seen:
            problems.append((f"{where}.id", "duplicates another bonus window id"))
        seen.add(window.id)
        for field, moment in (("startsAt", window.startsAt), ("endsAt", window.endsAt)):
            if moment.tzinfo is None:
                problems.append((f"{where}.{field}", "must include a timezone offset"))
        if window.startsAt.tzinfo and window.endsAt.tzinfo and window.endsAt <= window.startsAt:
            problems.append((f"{where}.endsAt", "must be after startsAt"))
        if window.productIds is not None and not window.productIds:
            problems.append((f"{where}.productIds", "must name at least one product (or be left out)"))
        for r_index, rule_index in enumerate(window.rules or []):
            if rule_index >= len(program.pointsRules):
                problems.append((f"{where}.rules[{r_index}]", f"no pointsRules[{rule_index}]"))
    return problems


def parse_program(document: Any) -> Program:
    """A validated Program, or ProgramInvalid listing every problem with its path."""
    if not isinstance(document, dict):
        raise ProgramInvalid([{"path": "(document)", "message": "must be a mapping (YAML or JSON object)"}])
    try:
        program = Program.model_validate(document)
    except ValidationError as exc:
        raise ProgramInvalid(
            [{"path": _path(error["loc"]), "message": _message(error)} for error in exc.errors()]
        ) from None
    problems = (
        _semantic_problems(program)
        + points_rule_problems(program.pointsRules)
        + storefront_problems(program.templates, program.themes, program.floatingWidgets)
        + referral_problems(program.referrals)
        + _caps_problems(program)
    )
    if problems:
        raise ProgramInvalid([{"path": path, "message": message} for path, message in problems])
    return program


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's booleans: only true/false. YAML 1.1 would read the rules' `on:` key
    (and yes/no/off) as booleans."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


# A program is a few hundred nodes; these bounds keep a hostile document cheap to refuse.
MAX_DEPTH = 32
MAX_NODES = 10_000
_LIMITS = f"at most {MAX_DEPTH} levels deep and {MAX_NODES} values (aliases count what they repeat)"


def _too_big(what: str) -> ProgramInvalid:
    return ProgramInvalid([{"path": "(document)", "message": f"{what}: a program is {_LIMITS}"}])


class _BoundedLoader(_Yaml12Loader):
    """The YAML 1.2 loader with a bound on nesting and on values, aliases counted at the size of what
    they repeat (so neither deep nesting nor a billion laughs costs more than MAX_NODES nodes)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}

    def _count(self, nodes: int) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise _too_big("too many values")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            anchored = self.anchors.get(self.peek_event().anchor)  # type: ignore[no-untyped-call]
            if anchored is not None:
                self._count(self._sizes.get(id(anchored), 1))
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _too_big("nested too deeply")
        before = self._nodes
        self._count(1)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._nodes - before
        return node


def _json_within_limits(document: Any) -> None:
    nodes = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise _too_big("nested too deeply")
        if nodes > MAX_NODES:
            raise _too_big("too many values")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def load_document(text: str) -> Any:
    """Parse a program document written in YAML or JSON (JSON is YAML); ProgramInvalid if neither, or
    if it is deeper or bigger than a program can be. JSON takes the fast path (the C parser)."""
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except RecursionError:
            raise _too_big("nested too deeply") from None
        except ValueError:
            pass  # flow-style YAML, or broken: YAML says which
        else:
            _json_within_limits(document)
            return document
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ProgramInvalid([{"path": "(document)", "message": f"not valid YAML or JSON: {exc}"}]) from None
