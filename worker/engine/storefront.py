"""The storefront widget's resources in the program document: `templates`, `themes`, `floatingWidgets`.

They follow Gamopanda's three resources (issue 7; docs/widget-api.md). Each is a list of items with an
`id`; the widget's embed snippet names one of each. Built-in items with the id `default` (English and
German copy, a neutral theme, a bottom-right launcher) are there whenever a program lacks them, so a new
merchant sees a working widget at once; a program that defines its own `default` overrides the built-in.

Copy: a template has copy per locale (BCP 47 tags such as `en`, `de`, `de-AT`); every value is plain
text (no HTML, no placeholders: the widget puts numbers and dates next to it). A locale may give only
some keys; each key is taken from the first of these that has it:

1. the locale's own copy;
2. the template's `defaultLocale` copy (the merchant's own words win over built-in text);
3. the built-in copy in the locale's language, when there is one (`en`, `de`);
4. the built-in copy in the default locale's language, when there is one;
5. the built-in English.

So a merchant may change one title and keep the rest, and a German page shows built-in German rather
than built-in English for what the merchant did not write.

Themes are checked against WCAG 2.x AA at validation: `text` on `background`, `muted` on `background`
and `onPrimary` on `primary` need a contrast of at least 4.5:1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import floor
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# The widget's copy keys, in the order docs/widget-api.md lists them.
COPY_KEYS: tuple[str, ...] = (
    "title",
    "intro",
    "howItWorksTitle",
    "howItWorks",
    "loginCta",
    "callToAction",
    "streaksTitle",
    "challengesTitle",
    "rewardsTitle",
    "pointsTitle",
    "currentRun",
    "thisPeriod",
    "atRisk",
    "nextMilestone",
    "milestoneAchieved",
    "endsOn",
    "copyCode",
    "copied",
    "expiresOn",
    "noRewards",
    "close",
    "statusPending",
    "statusIssued",
    "statusExpired",
    "statusFailed",
    "statusRedeemed",
    "statusRevoked",
    "memberPaused",
    "tierTitle",
    "tierNext",
    "spendTitle",
    "redeem",
    "notEnoughPoints",
    "yourCoupons",
    "referralTitle",
    "copyLink",
    "referralForFriend",
    "referralForYou",
)
DEFAULT_ID = "default"
WCAG_AA_NORMAL_TEXT = 4.5

# The program document's own spelling (worker/engine/program.py); repeated here, not imported, because
# program.py imports this module.
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Locale = Annotated[str, Field(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
Text = Annotated[str, Field(min_length=1, max_length=1000)]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
# A CSS font-family list; no `;`, braces, `<`, `>` or backslashes, so it cannot leave its declaration.
FontFamily = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9 ,'\"._-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Copy(_Strict):
    """One locale's copy; every key optional (see the module docstring for where the rest comes from)."""

    title: Text | None = None
    intro: Text | None = None
    howItWorksTitle: Text | None = None
    howItWorks: Text | None = None
    loginCta: Text | None = None
    callToAction: Text | None = None
    streaksTitle: Text | None = None
    challengesTitle: Text | None = None
    rewardsTitle: Text | None = None
    pointsTitle: Text | None = None
    currentRun: Text | None = None
    thisPeriod: Text | None = None
    atRisk: Text | None = None
    nextMilestone: Text | None = None
    milestoneAchieved: Text | None = None
    endsOn: Text | None = None
    copyCode: Text | None = None
    copied: Text | None = None
    expiresOn: Text | None = None
    noRewards: Text | None = None
    close: Text | None = None
    # A reward log's status as a shopper reads it.
    statusPending: Text | None = None
    statusIssued: Text | None = None
    statusExpired: Text | None = None
    statusFailed: Text | None = None
    statusRedeemed: Text | None = None
    statusRevoked: Text | None = None  # its order was cancelled (the program's onCancel: revoke)
    # A paused member (the merchant paused them in the programme).
    memberPaused: Text | None = None
    # The member's Wix loyalty tier (`tierNext` follows the points the next tier needs: "120 more points to").
    tierTitle: Text | None = None
    tierNext: Text | None = None
    # Spending points on the site's Wix loyalty rewards.
    spendTitle: Text | None = None
    redeem: Text | None = None
    notEnoughPoints: Text | None = None
    yourCoupons: Text | None = None
    # The member's referral link (each reward follows its label: "For your friend: 10% off").
    referralTitle: Text | None = None
    copyLink: Text | None = None
    referralForFriend: Text | None = None
    referralForYou: Text | None = None

    def given(self) -> dict[str, str]:
        """The keys this locale gives."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


class Template(_Strict):
    id: Identifier
    defaultLocale: Locale = "en"
    copy_: Annotated[dict[Locale, Copy], Field(alias="copy", min_length=1)]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def locale_for(self, requested: str | None) -> str:
        """The best of the template's locales for `requested`: exact, then its language, then default."""
        by_lower = {locale.lower(): locale for locale in self.copy_}
        if requested:
            wanted = requested.strip().lower()
            for candidate in (wanted, wanted.split("-")[0]):
                if candidate in by_lower:
                    return by_lower[candidate]
        return self.defaultLocale


class ThemeColors(_Strict):
    primary: Color
    onPrimary: Color
    background: Color
    text: Color
    muted: Color


class Theme(_Strict):
    id: Identifier
    colors: ThemeColors
    fontFamily: FontFamily = "system-ui, sans-serif"
    cornerRadius: Annotated[int, Field(ge=0, le=48)] = 12


class FloatingWidget(_Strict):
    id: Identifier
    position: Literal["bottom-right", "bottom-left", "top-right", "top-left"] = "bottom-right"
    offsetX: Annotated[int, Field(ge=0, le=400)] = 24
    offsetY: Annotated[int, Field(ge=0, le=400)] = 24
    label: Annotated[str, Field(min_length=1, max_length=40)]
    icon: Literal["gift", "star", "trophy", "none"] = "gift"
    size: Literal["small", "medium", "large"] = "medium"


# --- Built-ins -----------------------------------------------------------------------------------------

BUILT_IN_COPY: dict[str, dict[str, str]] = {
    "en": {
        "title": "Rewards",
        "intro": "Shop, keep your streaks going and complete challenges to earn rewards.",
        "howItWorksTitle": "How it works",
        "howItWorks": "Every order counts toward the streaks and challenges below. "
        "Reach a milestone and its reward is yours.",
        "loginCta": "Log in to see your progress and rewards",
        "callToAction": "Visit the shop to keep your streak going.",
        "streaksTitle": "Streaks",
        "challengesTitle": "Challenges",
        "rewardsTitle": "Your rewards",
        "pointsTitle": "Points",
        "currentRun": "Current streak",
        "thisPeriod": "This period",
        "atRisk": "Keep it going: this period is not done yet",
        "nextMilestone": "Next milestone",
        "milestoneAchieved": "Achieved",
        "endsOn": "Ends",
        "copyCode": "Copy code",
        "copied": "Copied",
        "expiresOn": "Expires",
        "noRewards": "No rewards yet",
        "close": "Close",
        "statusPending": "On its way",
        "statusIssued": "Ready to use",
        "statusExpired": "Expired",
        "statusFailed": "Delayed",
        "statusRedeemed": "Used",
        "statusRevoked": "Withdrawn: the order was cancelled",
        "memberPaused": "Your rewards are paused: orders do not count for now.",
        "tierTitle": "Your tier",
        "tierNext": "more points to",
        "spendTitle": "Spend points",
        "redeem": "Redeem",
        "notEnoughPoints": "Not enough points for this reward yet",
        "yourCoupons": "Your coupons",
        "referralTitle": "Refer a friend",
        "copyLink": "Copy link",
        "referralForFriend": "For your friend's first order:",
        "referralForYou": "For you:",
    },
    "de": {
        "title": "Prämien",
        "intro": "Kaufen Sie ein, halten Sie Ihre Serien am Laufen und meistern Sie Challenges, "
        "um Prämien zu erhalten.",
        "howItWorksTitle": "So funktioniert es",
        "howItWorks": "Jede Bestellung zählt für die Serien und Challenges unten. "
        "Erreichen Sie einen Meilenstein, gehört seine Prämie Ihnen.",
        "loginCta": "Melden Sie sich an, um Ihren Fortschritt und Ihre Prämien zu sehen",
        "callToAction": "Besuchen Sie den Shop, um Ihre Serie fortzusetzen.",
        "streaksTitle": "Serien",
        "challengesTitle": "Challenges",
        "rewardsTitle": "Ihre Prämien",
        "pointsTitle": "Punkte",
        "currentRun": "Aktuelle Serie",
        "thisPeriod": "Dieser Zeitraum",
        "atRisk": "Dranbleiben: Dieser Zeitraum ist noch nicht geschafft",
        "nextMilestone": "Nächster Meilenstein",
        "milestoneAchieved": "Erreicht",
        "endsOn": "Endet am",
        "copyCode": "Code kopieren",
        "copied": "Kopiert",
        "expiresOn": "Gültig bis",
        "noRewards": "Noch keine Prämien",
        "close": "Schließen",
        "statusPending": "Unterwegs",
        "statusIssued": "Einlösbar",
        "statusExpired": "Abgelaufen",
        "statusFailed": "Verzögert",
        "statusRedeemed": "Eingelöst",
        "statusRevoked": "Zurückgezogen: die Bestellung wurde storniert",
        "memberPaused": "Ihre Prämien sind pausiert: Bestellungen zählen derzeit nicht.",
        "tierTitle": "Ihre Stufe",
        "tierNext": "weitere Punkte bis",
        "spendTitle": "Punkte einlösen",
        "redeem": "Einlösen",
        "notEnoughPoints": "Noch nicht genug Punkte für diese Prämie",
        "yourCoupons": "Ihre Gutscheine",
        "referralTitle": "Freunde werben",
        "copyLink": "Link kopieren",
        "referralForFriend": "Für die erste Bestellung Ihres Freundes:",
        "referralForYou": "Für Sie:",
    },
}

BUILT_IN_TEMPLATE = Template.model_validate({"id": DEFAULT_ID, "defaultLocale": "en", "copy": BUILT_IN_COPY})
BUILT_IN_THEME = Theme(
    id=DEFAULT_ID,
    colors=ThemeColors(
        primary="#1f5fbf", onPrimary="#ffffff", background="#ffffff", text="#1a1a1a", muted="#5c5c5c"
    ),
    fontFamily="system-ui, sans-serif",
    cornerRadius=12,
)
BUILT_IN_FLOATING_WIDGET = FloatingWidget(
    id=DEFAULT_ID,
    position="bottom-right",
    offsetX=24,
    offsetY=24,
    label="Rewards",
    icon="gift",
    size="medium",
)


# --- Look-ups ------------------------------------------------------------------------------------------


class UnknownResource(LookupError):
    """No template, theme or floating widget with that id; `kind` and `resource_id` name it."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"no {kind} with id {resource_id!r}")
        self.kind = kind
        self.resource_id = resource_id


_Resource = TypeVar("_Resource", Template, Theme, FloatingWidget)


def _find(items: Sequence[_Resource], built_in: _Resource, kind: str, item_id: str) -> _Resource:
    found = next((item for item in items if item.id == item_id), None)
    if found is not None:
        return found
    if item_id == DEFAULT_ID:
        return built_in
    raise UnknownResource(kind, item_id)


def find_template(templates: Sequence[Template], template_id: str) -> Template:
    return _find(templates, BUILT_IN_TEMPLATE, "template", template_id)


def find_theme(themes: Sequence[Theme], theme_id: str) -> Theme:
    return _find(themes, BUILT_IN_THEME, "theme", theme_id)


def find_floating_widget(floating_widgets: Sequence[FloatingWidget], widget_id: str) -> FloatingWidget:
    return _find(floating_widgets, BUILT_IN_FLOATING_WIDGET, "floatingWidget", widget_id)


def _built_in(locale: str) -> dict[str, str]:
    return BUILT_IN_COPY.get(locale.lower().split("-")[0], {})


def resolved_copy(template: Template, locale: str) -> dict[str, str]:
    """Every copy key for one of the template's locales, filled as the module docstring says."""
    chain: list[Mapping[str, str]] = [
        template.copy_[locale].given() if locale in template.copy_ else {},
        template.copy_[template.defaultLocale].given(),
        _built_in(locale),
        _built_in(template.defaultLocale),
        BUILT_IN_COPY["en"],
    ]
    return {key: next(layer[key] for layer in chain if key in layer) for key in COPY_KEYS}


# --- Validation ----------------------------------------------------------------------------------------


def _luminance(color: str) -> float:
    """WCAG 2.x relative luminance of `#rrggbb`."""
    channels = []
    for start in (1, 3, 5):
        value = int(color[start : start + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio of two `#rrggbb` colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# (foreground, background) pairs a theme must keep readable.
CONTRAST_PAIRS = (("text", "background"), ("muted", "background"), ("onPrimary", "primary"))


def storefront_problems(
    templates: Sequence[Template], themes: Sequence[Theme], floating_widgets: Sequence[FloatingWidget]
) -> list[tuple[str, str]]:
    """What the field types cannot say: unique ids, copy for the default locale, WCAG AA contrast."""
    problems: list[tuple[str, str]] = []
    groups: tuple[tuple[str, Sequence[Template | Theme | FloatingWidget]], ...] = (
        ("templates", templates),
        ("themes", themes),
        ("floatingWidgets", floating_widgets),
    )
    for kind, items in groups:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in seen:
                problems.append((f"{kind}[{index}].id", f"duplicates the id of {kind}[{seen[item.id]}]"))
            seen.setdefault(item.id, index)
    for index, template in enumerate(templates):
        if template.defaultLocale not in template.copy_:
            problems.append(
                (
                    f"templates[{index}].defaultLocale",
                    f"has no copy: add copy.{template.defaultLocale} (the locales given are "
                    f"{', '.join(sorted(template.copy_))})",
                )
            )
        lowered: dict[str, str] = {}
        for locale in template.copy_:
            if locale.lower() in lowered:
                problems.append(
                    (f"templates[{index}].copy.{locale}", f"is the same locale as {lowered[locale.lower()]}")
                )
            lowered.setdefault(locale.lower(), locale)
    for index, theme in enumerate(themes):
        colors = theme.colors.model_dump()
        for foreground, background in CONTRAST_PAIRS:
            ratio = contrast_ratio(colors[foreground], colors[background])
            if ratio < WCAG_AA_NORMAL_TEXT:
                problems.append(
                    (
                        f"themes[{index}].colors.{foreground}",
                        f"contrast with {background} is {floor(ratio * 100) / 100}:1; WCAG AA needs at least "
                        f"{WCAG_AA_NORMAL_TEXT}:1",
                    )
                )
    return problems
