"""The referral rules, pure: whether a friend's paid order earns the referral, and when, and in which cap.

A friend who claimed a member's referral code and pays their first order earns both sides their rewards
once the program's `holdDays` have passed (the return window), unless a check refuses it:

- `same_contact`: the friend is the referrer;
- `same_email`: the friend's order email is one of the referrer's known emails (or the other way round);
- `same_payment`: the friend paid with the payment details (a card's brand and last four digits) that the
  referrer paid with, where Wix gives them (its Order Transactions API, read when the hold ends);
- `not_first_order`: the friend had paid an earlier order;
- `cap_reached`: the referrer has `maxPerPeriod` referrals held or rewarded in the order's period (cut in
  the program's timezone).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker.engine.periods import period_of
from worker.engine.program import Referrals

SAME_CONTACT = "same_contact"
SAME_EMAIL = "same_email"
SAME_PAYMENT = "same_payment"
NOT_FIRST_ORDER = "not_first_order"
CAP_REACHED = "cap_reached"
ORDER_CANCELED = "order_canceled"

REASONS = {
    SAME_CONTACT: "the friend is the referrer",
    SAME_EMAIL: "the friend's email is the referrer's",
    SAME_PAYMENT: "the friend paid with the referrer's payment details",
    NOT_FIRST_ORDER: "not the friend's first paid order",
    CAP_REACHED: "the referrer has reached maxPerPeriod referrals this period",
    ORDER_CANCELED: "the order was cancelled or refunded before the hold ended",
}


def normalized_email(email: object) -> str | None:
    """An email as compared: trimmed and lower-cased; None for anything that is not one."""
    if not isinstance(email, str) or "@" not in email:
        return None
    return email.strip().lower() or None


def refusal(
    *,
    friend_id: str,
    referrer_id: str,
    order_id: str,
    first_order_id: str | None,
    friend_emails: Iterable[str],
    referrer_emails: Iterable[str],
    friend_payments: Iterable[str] = (),
    referrer_payments: Iterable[str] = (),
) -> str | None:
    """The first check that refuses the referral for this order (a reason code), or None."""
    if friend_id == referrer_id:
        return SAME_CONTACT
    if first_order_id is not None and first_order_id != order_id:
        return NOT_FIRST_ORDER
    if set(filter(None, map(normalized_email, friend_emails))) & set(
        filter(None, map(normalized_email, referrer_emails))
    ):
        return SAME_EMAIL
    if set(friend_payments) & set(referrer_payments):
        return SAME_PAYMENT
    return None


def cap_period(referrals: Referrals, paid_at: datetime, zone: ZoneInfo) -> str:
    """The cap's period of an order paid at `paid_at`: the local day, ISO week or month it starts on."""
    return f"{referrals.period}:{period_of(paid_at, referrals.period, zone).key}"


def release_at(referrals: Referrals, paid_at: datetime) -> datetime:
    """When a held referral is rewarded: `holdDays` after the payment."""
    return paid_at + timedelta(days=referrals.holdDays)


def payment_fingerprints(payments: Iterable[dict[str, Any]]) -> set[str]:
    """What identifies the payment details of Wix order payments (the Order Transactions API): a card's
    brand and last four digits (`regularPaymentDetails.creditCardDetails`). Other methods give nothing
    that tells one payer from another, so they give no fingerprint."""
    found: set[str] = set()
    for payment in payments:
        details = payment.get("regularPaymentDetails")
        card = details.get("creditCardDetails") if isinstance(details, dict) else None
        if not isinstance(card, dict):
            continue
        digits, brand = card.get("lastFourDigits"), card.get("brand")
        if isinstance(digits, str) and digits and isinstance(brand, str) and brand:
            found.add(f"card:{brand.strip().lower()}:{digits.strip()}")
    return found
