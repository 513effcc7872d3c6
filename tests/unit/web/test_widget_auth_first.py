"""The widget's *Spend points* routes check the widget token before the body or the query
(worker.web.guards.AuthFirst). Not run across the calendar: nothing here depends on the date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.unit.web.test_widget_api import (  # noqa: F401  # the fixtures, shared
    INSTANCE,
    app,
    bearer,
    client,
    fake_control,
    fake_wix,
    session,
    wix,
)
from tests.unit.web.test_widget_spend import member, written  # noqa: F401
from worker.storefront.widget_tokens import mint_widget_token

# ruff: noqa: F811  (the shared fixtures are parameters of the tests below)


class TestCredentialsBeforeTheBody:
    """The caller proves who it is before the body is looked at (worker.web.guards.AuthFirst): a bad body
    without a good widget token is 401, not 422, and neither answer writes anything."""

    @pytest.mark.parametrize(
        "body",
        [b'{"rewardId": "r}1", "requestId": "req-0000000001"}', b"{not json"],
    )
    @pytest.mark.parametrize(
        ("caller", "status", "code"),
        [
            ("nobody", 401, "invalid_token"),
            ("forger", 401, "invalid_token"),
            ("member", 422, "invalid_request"),
        ],
    )
    def test_redeem_checks_the_token_then_the_body(
        self, client, member, fake_store, fake_wix, body: bytes, caller: str, status: int, code: str
    ) -> None:
        forged, _ = mint_widget_token("f" * 40, INSTANCE, "c-1", "m-1", datetime.now(UTC))
        credentials = {"nobody": {}, "forger": bearer(forged), "member": member}[caller]
        before = written(fake_store, fake_wix)
        answer = client.post(
            "/widget/v1/redeem", content=body, headers={"content-type": "application/json", **credentials}
        )
        assert answer.status_code == status and answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == code
        assert written(fake_store, fake_wix) == before

    def test_the_rewards_list_checks_the_token_before_its_query(self, client) -> None:
        """An `instance` over its 200 characters without a token: 401 too."""
        answer = client.get("/widget/v1/loyalty-rewards", params={"instance": "i" * 201})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token"
