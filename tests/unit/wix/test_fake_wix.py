"""The fake Wix (worker/wix/fake) in process, through FastAPI's TestClient, on a clock the tests move."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from worker.wix.envelope import HANDLED_EVENT_TYPES, parse_envelope
from worker.wix.events import EventIgnored, normalize
from worker.wix.fake import FakeSettings, FakeWix, create_app
from worker.wix.fake.payloads import BUILDERS, WIX_LOYALTY_APP_ID, EventOptions, build_payload, order_object
from worker.wix.tokens import TokenVerifier, load_public_key
from worker.wix.webhook_signing import sign_webhook

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_SECRET = "fake-secret"
INSTANCE = "6b1e6a2c-0000-4000-8000-00000000f001"
OTHER_INSTANCE = "6b1e6a2c-0000-4000-8000-00000000f002"
CONTACT = "24de6f0b-60ce-4faa-9138-2e39f1415615"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(private_key: Any, clock: Clock) -> FakeWix:
    return FakeWix(FakeSettings(APP_ID, APP_SECRET), private_key, clock=clock)


@pytest.fixture
def client(fake: FakeWix) -> Iterator[TestClient]:
    with TestClient(create_app(fake)) as test_client:
        yield test_client


def token_request(instance: str = INSTANCE, secret: str = APP_SECRET) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": secret,
        "instance_id": instance,
    }


def auth(client: TestClient, instance: str = INSTANCE) -> dict[str, str]:
    """Headers carrying a fresh app token for `instance`, as the SDK sends it (no `Bearer`)."""
    answer = client.post("/oauth2/token", json=token_request(instance))
    assert answer.status_code == 200
    return {"Authorization": answer.json()["access_token"]}


def application_code(answer: httpx.Response) -> str:
    return str(answer.json()["details"]["applicationError"]["code"])


def new_account(client: TestClient, headers: dict[str, str], contact: str = CONTACT) -> dict[str, Any]:
    answer = client.post("/loyalty-accounts/v1/accounts", json={"contactId": contact}, headers=headers)
    assert answer.status_code == 200
    account: dict[str, Any] = answer.json()["account"]
    return account


def earn(client: TestClient, headers: dict[str, str], account_id: str, **body: Any) -> httpx.Response:
    request = {"amount": 10, "description": "streak", "appId": APP_ID, "idempotencyKey": "reward-1", **body}
    return client.post(
        f"/loyalty-accounts/v1/accounts/{account_id}/earn-points", json=request, headers=headers
    )


def transaction_by_id(client: TestClient, headers: dict[str, str], transaction_id: str) -> dict[str, Any]:
    answer = client.get(f"/loyalty-transactions/v1/loyalty-transactions/{transaction_id}", headers=headers)
    assert answer.status_code == 200
    transaction: dict[str, Any] = answer.json()["loyaltyTransaction"]
    return transaction


def coupon_spec(code: str = "STRK-7Q2X9") -> dict[str, Any]:
    return {
        "name": "Streak reward",
        "code": code,
        "active": True,
        "startTime": 1714521600000,
        "expirationTime": 4102444800000,
        "usageLimit": 1,
        "limitPerCustomer": 1,
        "limitedToOneItem": False,
        "scope": {"namespace": "stores"},
        "percentOffRate": 10,
    }


class TestOAuth:
    def test_right_credentials_get_a_four_hour_bearer_token(self, client: TestClient) -> None:
        """Client credentials answer access_token, token_type Bearer and expires_in 14400."""
        answer = client.post("/oauth2/token", json=token_request())
        assert answer.status_code == 200
        body = answer.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 14400
        assert isinstance(body["access_token"], str) and body["access_token"]

    def test_wrong_secret_is_a_wix_style_401(self, client: TestClient) -> None:
        """A wrong client secret is a 401 with an UNAUTHENTICATED applicationError."""
        answer = client.post("/oauth2/token", json=token_request(secret="wrong"))
        assert answer.status_code == 401
        assert application_code(answer) == "UNAUTHENTICATED"
        assert set(answer.json()) == {"message", "details"}

    def test_missing_fields_are_field_violations(self, client: TestClient) -> None:
        """A token request without instance_id is a 400 naming the field."""
        request = token_request()
        del request["instance_id"]
        answer = client.post("/oauth2/token", json=request)
        assert answer.status_code == 400
        violations = answer.json()["details"]["validationError"]["fieldViolations"]
        assert [violation["field"] for violation in violations] == ["instance_id"]

    def test_token_info_describes_the_app_token(self, client: TestClient) -> None:
        """Token info answers the token's instance, app and subject, times as strings."""
        token = auth(client)["Authorization"]
        info = client.post("/oauth2/token-info", json={"token": token}).json()
        assert info["active"] is True
        assert info["instanceId"] == INSTANCE
        assert info["clientId"] == APP_ID
        assert info["subjectType"] == "APP"
        assert int(info["exp"]) - int(info["iat"]) == 14400

    def test_member_token_info_names_the_member(self, client: TestClient) -> None:
        """A seeded member token reads back as subjectType MEMBER with the member id."""
        seeded = client.post(f"/_fake/instances/{INSTANCE}/member-tokens", json={"memberId": "m-1"})
        info = client.post("/oauth2/token-info", json={"token": seeded.json()["token"]}).json()
        assert (info["subjectType"], info["subjectId"], info["instanceId"]) == ("MEMBER", "m-1", INSTANCE)

    def test_bearer_prefix_is_accepted(self, client: TestClient) -> None:
        """`Authorization: Bearer <token>` authenticates like the bare token."""
        token = auth(client)["Authorization"]
        answer = client.get("/loyalty-programs/v1/program", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200

    def test_unknown_token_is_401(self, client: TestClient) -> None:
        """A call with an unknown token is a 401 UNAUTHENTICATED."""
        answer = client.get("/ecom/v1/orders/o-1", headers={"Authorization": "nonsense"})
        assert answer.status_code == 401
        assert application_code(answer) == "UNAUTHENTICATED"

    def test_revoked_tokens_are_401_until_a_new_one_is_fetched(self, client: TestClient) -> None:
        """After the revoke switch the old token is a 401 and inactive; a new token works."""
        old = auth(client)
        assert client.post("/_fake/tokens/revoke", json={}).json() == {"revoked": 1}
        assert client.get("/loyalty-programs/v1/program", headers=old).status_code == 401
        assert client.post("/oauth2/token-info", json={"token": old["Authorization"]}).json() == {
            "active": False
        }
        assert client.get("/loyalty-programs/v1/program", headers=auth(client)).status_code == 200

    def test_tokens_expire_after_four_hours(self, client: TestClient, clock: Clock) -> None:
        """A token is a 401 once 14400 seconds have passed."""
        headers = auth(client)
        clock.advance(14399)
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 200
        clock.advance(1)
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 401


class TestLoyaltyAccounts:
    def test_a_new_account_starts_at_revision_one(self, client: TestClient) -> None:
        """Create answers the account with zero points and revision "1"."""
        account = new_account(client, auth(client))
        assert account["contactId"] == CONTACT
        assert account["points"] == {"balance": 0, "earned": 0, "redeemed": 0, "adjusted": 0}
        assert account["revision"] == "1"

    def test_a_second_account_for_the_contact_is_refused_but_not_409(self, client: TestClient) -> None:
        """Creating an account for a contact that has one is refused with a 400 applicationError: Wix
        declares no error for it (wix-facts.md §8), so nothing may rely on a 409."""
        headers = auth(client)
        new_account(client, headers)
        answer = client.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT}, headers=headers)
        assert answer.status_code == 400
        assert application_code(answer) == "LOYALTY_ACCOUNT_ALREADY_EXISTS"

    def test_accounts_are_found_by_id_contact_and_query(self, client: TestClient) -> None:
        """Get by id, fetch-by ?contactId= and query on contactId $eq find the same account."""
        headers = auth(client)
        account = new_account(client, headers)
        new_account(client, headers, contact="someone-else")
        by_id = client.get(f"/loyalty-accounts/v1/accounts/{account['id']}", headers=headers)
        by_contact = client.get(
            "/loyalty-accounts/v1/accounts/fetch-by?contactId=" + CONTACT, headers=headers
        )
        query = {"query": {"filter": {"contactId": {"$eq": CONTACT}}, "cursorPaging": {"limit": 100}}}
        queried = client.post("/loyalty-accounts/v1/accounts/query", json=query, headers=headers).json()
        assert by_id.json()["account"] == account
        assert by_contact.json()["account"] == account
        assert queried["loyaltyAccounts"] == [account]
        assert queried["pagingMetadata"]["hasNext"] is False

    def test_query_pages_with_cursors(self, client: TestClient) -> None:
        """cursorPaging hands out a next cursor until the last page."""
        headers = auth(client)
        for number in range(3):
            new_account(client, headers, contact=f"contact-{number}")
        first = client.post(
            "/loyalty-accounts/v1/accounts/query",
            json={"query": {"cursorPaging": {"limit": 2}}},
            headers=headers,
        ).json()
        cursor = first["pagingMetadata"]["cursors"]["next"]
        second = client.post(
            "/loyalty-accounts/v1/accounts/query",
            json={"query": {"cursorPaging": {"limit": 2, "cursor": cursor}}},
            headers=headers,
        ).json()
        contacts = [account["contactId"] for account in first["loyaltyAccounts"] + second["loyaltyAccounts"]]
        assert contacts == ["contact-0", "contact-1", "contact-2"]
        assert second["pagingMetadata"]["hasNext"] is False

    def test_no_account_for_the_contact_is_404(self, client: TestClient) -> None:
        """fetch-by for a contact without an account is a 404 NOT_FOUND."""
        answer = client.get("/loyalty-accounts/v1/accounts/fetch-by?contactId=nobody", headers=auth(client))
        assert answer.status_code == 404
        assert application_code(answer) == "NOT_FOUND"

    def test_seeded_contacts_can_be_required(self, client: TestClient) -> None:
        """With requireContacts on, an account for an unseeded contact is a 404; a seeded one is made."""
        headers = auth(client)
        client.patch("/_fake/settings", json={"requireContacts": True})
        answer = client.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT}, headers=headers)
        assert answer.status_code == 404
        client.post(f"/_fake/instances/{INSTANCE}/contacts", json={"id": CONTACT})
        assert new_account(client, headers)["contactId"] == CONTACT

    def test_an_inactive_program_refuses_accounts_with_428(self, client: TestClient) -> None:
        """With the program not ACTIVE, create is a 428 FAILED_PRECONDITION."""
        headers = auth(client)
        client.put(f"/_fake/instances/{INSTANCE}/program", json={"status": "PAUSED"})
        answer = client.post("/loyalty-accounts/v1/accounts", json={"contactId": CONTACT}, headers=headers)
        assert answer.status_code == 428
        assert application_code(answer) == "FAILED_PRECONDITION"
        program = client.get("/loyalty-programs/v1/program", headers=headers).json()["loyaltyProgram"]
        assert program["status"] == "PAUSED"


class TestEarnPoints:
    def test_earning_answers_the_account_and_the_transaction_id(self, client: TestClient) -> None:
        """Earn adds to balance and earned, bumps the revision and answers `{account, transactionId}`
        (`EarnPointsResponse`); the account has no `latestTransaction` (not in `@wix/loyalty`)."""
        headers = auth(client)
        account = new_account(client, headers)
        answer = earn(client, headers, account["id"], amount=25)
        assert answer.status_code == 200
        assert set(answer.json()) == {"account", "transactionId"}
        earned = answer.json()["account"]
        assert earned["points"] == {"balance": 25, "earned": 25, "redeemed": 0, "adjusted": 0}
        assert earned["revision"] == "2"
        assert "latestTransaction" not in earned
        transaction = transaction_by_id(client, headers, answer.json()["transactionId"])
        assert (transaction["transactionType"], transaction["amount"]) == ("EARN", 25)
        assert (transaction["earnInfo"], transaction["idempotencyKey"]) == ({"appId": APP_ID}, "reward-1")
        assert (transaction["accountId"], transaction["description"]) == (account["id"], "streak")

    def test_the_same_idempotency_key_earns_once_and_answers_the_same(self, client: TestClient) -> None:
        """A repeated idempotencyKey earns nothing more and answers exactly as the first call did."""
        headers = auth(client)
        account = new_account(client, headers)
        first = earn(client, headers, account["id"])
        second = earn(client, headers, account["id"])
        assert second.status_code == 200
        assert second.json() == first.json()
        transactions = client.get(f"/_fake/instances/{INSTANCE}/transactions").json()["transactions"]
        assert len(transactions) == 1
        assert transactions[0]["accountId"] == account["id"]

    def test_a_new_key_earns_again(self, client: TestClient) -> None:
        """Another idempotencyKey is another transaction."""
        headers = auth(client)
        account = new_account(client, headers)
        earn(client, headers, account["id"], idempotencyKey="reward-1")
        answer = earn(client, headers, account["id"], idempotencyKey="reward-2")
        assert answer.json()["account"]["points"]["balance"] == 20

    @pytest.mark.parametrize("missing", ["appId", "idempotencyKey"])
    def test_app_id_and_idempotency_key_are_required(self, client: TestClient, missing: str) -> None:
        """Earn without appId or idempotencyKey is a 400 naming the field."""
        headers = auth(client)
        account = new_account(client, headers)
        answer = earn(client, headers, account["id"], **{missing: None})
        assert answer.status_code == 400
        fields = [item["field"] for item in answer.json()["details"]["validationError"]["fieldViolations"]]
        assert fields == [missing]

    @pytest.mark.parametrize("description", [None, "", "x" * 101])
    def test_a_description_of_1_to_100_characters_is_required(
        self, client: TestClient, description: Any
    ) -> None:
        """Earn without a description, or with an empty or too long one, is a 400 naming it
        (`@wix/loyalty` `EarnPointsRequest.description`: minLength 1, maxLength 100)."""
        headers = auth(client)
        account = new_account(client, headers)
        answer = earn(client, headers, account["id"], description=description)
        assert answer.status_code == 400
        fields = [item["field"] for item in answer.json()["details"]["validationError"]["fieldViolations"]]
        assert fields == ["description"]

    @pytest.mark.parametrize("amount", [0, 10_000_000, -5, 2.5])
    def test_amount_must_be_1_to_9999999(self, client: TestClient, amount: Any) -> None:
        """An amount outside 1..9,999,999 or not whole is a 400."""
        headers = auth(client)
        account = new_account(client, headers)
        assert earn(client, headers, account["id"], amount=amount).status_code == 400

    def test_earning_on_an_unknown_account_is_404(self, client: TestClient) -> None:
        """Earn on an account id that does not exist is a 404."""
        assert earn(client, auth(client), "no-such-account").status_code == 404


class TestAdjustPoints:
    def test_adjusting_by_an_amount_with_the_current_revision(self, client: TestClient) -> None:
        """An amount with the current revision changes balance and adjusted, as our app."""
        headers = auth(client)
        account = new_account(client, headers)
        answer = client.post(
            f"/loyalty-accounts/v1/accounts/{account['id']}/adjust-points",
            json={"amount": 7, "revision": "1"},
            headers=headers,
        )
        adjusted = answer.json()["account"]
        assert adjusted["points"]["balance"] == 7 and adjusted["points"]["adjusted"] == 7
        transaction = transaction_by_id(client, headers, answer.json()["transactionId"])
        assert transaction["transactionType"] == "ADJUST"
        assert transaction["adjustInfo"] == {"appId": APP_ID, "amountBefore": 0, "amountAfter": 7}
        assert adjusted["revision"] == "2"

    def test_setting_a_balance_records_the_difference(self, client: TestClient) -> None:
        """`balance` sets the balance; the transaction amount is the difference."""
        headers = auth(client)
        account = new_account(client, headers)
        earn(client, headers, account["id"], amount=10)
        answer = client.post(
            f"/loyalty-accounts/v1/accounts/{account['id']}/adjust-points",
            json={"balance": 15, "revision": "2"},
            headers=headers,
        )
        adjusted = answer.json()["account"]
        assert adjusted["points"] == {"balance": 15, "earned": 10, "redeemed": 0, "adjusted": 5}
        assert transaction_by_id(client, headers, answer.json()["transactionId"])["amount"] == 5

    def test_a_stale_revision_is_409_and_changes_nothing(self, client: TestClient) -> None:
        """adjust-points with an old revision is a 409 ABORTED; the balance stays."""
        headers = auth(client)
        account = new_account(client, headers)
        earn(client, headers, account["id"], amount=10)  # revision 1 -> 2
        answer = client.post(
            f"/loyalty-accounts/v1/accounts/{account['id']}/adjust-points",
            json={"amount": -3, "revision": "1"},
            headers=headers,
        )
        assert answer.status_code == 409
        assert application_code(answer) == "ABORTED"
        current = client.get(f"/loyalty-accounts/v1/accounts/{account['id']}", headers=headers).json()
        assert current["account"]["points"]["balance"] == 10

    def test_amount_and_balance_together_are_400(self, client: TestClient) -> None:
        """Exactly one of amount or balance may be given."""
        headers = auth(client)
        account = new_account(client, headers)
        answer = client.post(
            f"/loyalty-accounts/v1/accounts/{account['id']}/adjust-points",
            json={"amount": 1, "balance": 3, "revision": "1"},
            headers=headers,
        )
        assert answer.status_code == 400


class TestLoyaltyTransactions:
    def test_the_query_finds_an_accounts_transactions_newest_first(self, client: TestClient) -> None:
        """Filtered on accountId and sorted createdDate DESC, the query answers that account's
        transactions newest first, in the published shape; another account's are left out."""
        headers = auth(client)
        account = new_account(client, headers)
        other = new_account(client, headers, contact="someone-else")
        earn(client, headers, account["id"], amount=5, idempotencyKey="k-1")
        earn(client, headers, other["id"], amount=9, idempotencyKey="k-2")
        client.post(f"/_fake/instances/{INSTANCE}/accounts/{account['id']}/adjust", json={"amount": -2})
        query = {
            "filter": {"accountId": {"$eq": account["id"]}},
            "sort": [{"fieldName": "createdDate", "order": "DESC"}],
        }
        answer = client.post(
            "/loyalty-transactions/v1/loyalty-transactions/query", json={"query": query}, headers=headers
        )
        assert answer.status_code == 200
        found = answer.json()["loyaltyTransactions"]
        assert [(t["transactionType"], t["amount"]) for t in found] == [("ADJUST", -2), ("EARN", 5)]
        assert found[0]["adjustInfo"]["appId"] == WIX_LOYALTY_APP_ID  # made in the dashboard
        assert found[1]["earnInfo"]["appId"] == APP_ID
        assert answer.json()["pagingMetadata"]["hasNext"] is False

    def test_an_unknown_transaction_is_404(self, client: TestClient) -> None:
        """Get for an unknown transaction id is a 404."""
        answer = client.get("/loyalty-transactions/v1/loyalty-transactions/nope", headers=auth(client))
        assert answer.status_code == 404


class TestCoupons:
    def test_a_created_coupon_reads_back_as_wix_answers_it(self, client: TestClient) -> None:
        """Create answers an id; get answers the spec with int64 times as strings, a type and our appId."""
        headers = auth(client)
        created = client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
        assert set(created.json()) == {"id"}
        coupon = client.get(f"/stores/v2/coupons/{created.json()['id']}", headers=headers).json()["coupon"]
        assert coupon["specification"]["code"] == "STRK-7Q2X9"
        assert coupon["specification"]["startTime"] == "1714521600000"
        assert coupon["specification"]["type"] == "PercentOff"
        assert coupon["appId"] == APP_ID
        assert coupon["expired"] is False

    def test_a_duplicate_code_is_refused_but_not_409(self, client: TestClient) -> None:
        """A second coupon with the same code is a 400 applicationError naming the code, not a 409 (Wix
        declares no error for a taken code, wix-facts.md §8)."""
        headers = auth(client)
        client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
        answer = client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
        assert answer.status_code == 400
        assert application_code(answer) == "COUPON_CODE_ALREADY_EXISTS"
        assert answer.json()["details"]["applicationError"]["data"] == {"code": "STRK-7Q2X9"}

    def test_a_free_shipping_coupon_with_a_scope_is_400(self, client: TestClient) -> None:
        """freeShipping takes no scope (wix-facts.md §8); without one, with string times, it is made."""
        spec = {**coupon_spec(), "freeShipping": True}
        del spec["percentOffRate"]
        refused = client.post("/stores/v2/coupons", json={"specification": spec}, headers=auth(client))
        assert refused.status_code == 400
        fields = {item["field"] for item in refused.json()["details"]["validationError"]["fieldViolations"]}
        assert fields == {"specification.scope"}
        del spec["scope"]
        spec.update(startTime="1714521600000", expirationTime="4102444800000")
        made = client.post("/stores/v2/coupons", json={"specification": spec}, headers=auth(client))
        assert made.status_code == 200

    def test_codes_are_unique_per_instance_only(self, client: TestClient) -> None:
        """The same code on another site is a new coupon."""
        client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=auth(client))
        other = client.post(
            "/stores/v2/coupons", json={"specification": coupon_spec()}, headers=auth(client, OTHER_INSTANCE)
        )
        assert other.status_code == 200

    @pytest.mark.parametrize(
        "query_filter",
        ['{"specification.code": "STRK-7Q2X9"}', {"specification.code": {"$eq": "STRK-7Q2X9"}}],
    )
    def test_query_by_code(self, client: TestClient, query_filter: Any) -> None:
        """Query finds the coupon by specification.code, filter as a JSON string or an object."""
        headers = auth(client)
        for code in ("STRK-7Q2X9", "OTHER"):
            client.post("/stores/v2/coupons", json={"specification": coupon_spec(code)}, headers=headers)
        found = client.post(
            "/stores/v2/coupons/query", json={"query": {"filter": query_filter}}, headers=headers
        )
        assert found.json()["totalResults"] == 1
        assert found.json()["coupons"][0]["specification"]["code"] == "STRK-7Q2X9"

    def test_a_spec_without_start_or_behaviour_is_400(self, client: TestClient) -> None:
        """Missing startTime and discount are field violations."""
        spec = coupon_spec()
        del spec["startTime"], spec["percentOffRate"]
        answer = client.post("/stores/v2/coupons", json={"specification": spec}, headers=auth(client))
        assert answer.status_code == 400
        fields = {item["field"] for item in answer.json()["details"]["validationError"]["fieldViolations"]}
        assert fields == {"specification.startTime", "specification"}

    def test_an_unknown_coupon_is_404(self, client: TestClient) -> None:
        """Get for an unknown id is a 404."""
        assert client.get("/stores/v2/coupons/nope", headers=auth(client)).status_code == 404


class TestSeededRecords:
    def test_orders_and_contacts_are_served_as_seeded(self, client: TestClient) -> None:
        """Seeded orders and contacts come back under `order` and `contact`; others are 404."""
        headers = auth(client)
        order = order_object("order-1", CONTACT, total="12.50", fulfillment_status="FULFILLED")
        client.post(f"/_fake/instances/{INSTANCE}/orders", json=order)
        client.post(f"/_fake/instances/{INSTANCE}/contacts", json={"id": CONTACT, "email": "a@b.c"})
        assert client.get("/ecom/v1/orders/order-1", headers=headers).json() == {"order": order}
        contact = client.get(f"/contacts/v4/contacts/{CONTACT}", headers=headers).json()["contact"]
        assert contact["primaryInfo"]["email"] == "a@b.c"
        assert client.get("/ecom/v1/orders/order-2", headers=headers).status_code == 404
        assert client.get("/ecom/v1/orders/order-1", headers=auth(client, OTHER_INSTANCE)).status_code == 404


class TestTriggerReports:
    def report(self, client: TestClient, headers: dict[str, str], key: str, **extra: Any) -> httpx.Response:
        body = {
            "triggerKey": "reward_issued",
            "payload": {"contactId": CONTACT, "couponCode": "STRK-7Q2X9"},
            "externalEntityId": "16ef8c9c-413e-4d5f-b77d-8c67c3c8ae0c",
            "idempotency": {"key": key, **extra},
        }
        return client.post("/automations/v1/events/report", json=body, headers=headers)

    def test_the_same_idempotency_key_is_recorded_once(self, client: TestClient) -> None:
        """A repeated idempotency key answers 200 and is ignored; one report is recorded."""
        headers = auth(client)
        first = self.report(client, headers, "reward-log-1")
        second = self.report(client, headers, "reward-log-1")
        assert len(first.json()["activationIds"]) == 1
        assert second.status_code == 200 and second.json() == {"activationIds": []}
        recorded = client.get(f"/_fake/instances/{INSTANCE}").json()
        assert [report["idempotency"]["key"] for report in recorded["triggerReports"]] == ["reward-log-1"]
        assert len(recorded["ignoredTriggerReports"]) == 1

    def test_a_key_is_forgotten_after_its_ttl(self, client: TestClient, clock: Clock) -> None:
        """After ttlInMilliseconds the same key is reported again."""
        headers = auth(client)
        self.report(client, headers, "k", ttlInMilliseconds="60000")
        clock.advance(61)
        assert len(self.report(client, headers, "k", ttlInMilliseconds="60000").json()["activationIds"]) == 1

    def test_a_report_needs_a_trigger_key(self, client: TestClient) -> None:
        """A report without triggerKey is a 400."""
        answer = client.post("/automations/v1/events/report", json={"payload": {}}, headers=auth(client))
        assert answer.status_code == 400

    @pytest.mark.parametrize(
        "change",
        [
            {"idempotency": {"key": "k" * 81}},
            {"idempotency": {"key": ""}},
            {"externalEntityId": "not-a-guid"},
            {"payload": {"_private": 1}},
            {"payload": {"contact-id": "x"}},
            {"triggerKey": "t" * 101},
        ],
        ids=["key-over-80", "empty-key", "entity-not-a-guid", "underscore-key", "dash-key", "long-trigger"],
    )
    def test_what_wixs_sdk_declares_invalid_is_a_400(
        self, client: TestClient, change: dict[str, Any]
    ) -> None:
        """@wix/automations: key 1 to 80, a GUID entity id, payload keys [A-Za-z0-9_] not starting with _."""
        body = {
            "triggerKey": "reward_issued",
            "payload": {"contactId": CONTACT},
            "externalEntityId": "16ef8c9c-413e-4d5f-b77d-8c67c3c8ae0c",
            "idempotency": {"key": "k"},
            **change,
        }
        answer = client.post("/automations/v1/events/report", json=body, headers=auth(client))
        assert answer.status_code == 400, answer.text
        assert client.get(f"/_fake/instances/{INSTANCE}").json()["triggerReports"] == []


class TestInbox:
    def test_messages_go_to_the_participants_conversation_and_are_recorded(self, client: TestClient) -> None:
        """Get-or-create answers one conversation per contact; a sent message is recorded as our app's."""
        headers = auth(client)
        body = {"participantId": {"contactId": CONTACT}}
        first = client.post("/inbox/v2/conversations", json=body, headers=headers).json()
        again = client.post("/inbox/v2/conversations", json=body, headers=headers).json()
        assert (first["newConversation"], again["newConversation"]) == (True, False)
        conversation_id = first["conversation"]["id"]
        assert again["conversation"]["id"] == conversation_id
        message = {
            "direction": "BUSINESS_TO_PARTICIPANT",
            "visibility": "BUSINESS_AND_PARTICIPANT",
            "content": {
                "previewText": "You earned 50 points!",
                "basic": {"items": [{"text": "You earned 50!"}]},
            },
        }
        sent = client.post(
            "/inbox/v2/messages",
            json={"conversationId": conversation_id, "sendNotifications": True, "message": message},
            headers=headers,
        )
        assert sent.json()["message"]["sender"] == {"appId": APP_ID}
        recorded = client.get(f"/_fake/instances/{INSTANCE}/messages").json()["messages"]
        assert recorded[0]["participant"] == {"contactId": CONTACT}
        assert recorded[0]["message"]["content"]["previewText"] == "You earned 50 points!"

    def test_an_unknown_conversation_is_404(self, client: TestClient) -> None:
        """Sending into a conversation that does not exist is a 404."""
        body = {"conversationId": "nope", "message": {"content": {"previewText": "x"}}}
        assert client.post("/inbox/v2/messages", json=body, headers=auth(client)).status_code == 404


class TestFaults:
    def test_a_429_fault_answers_exactly_n_calls_with_retry_after(self, client: TestClient) -> None:
        """The next N calls get 429 with Retry-After and RESOURCE_EXHAUSTED; call N+1 goes through."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 429, "count": 2, "retryAfter": 3})
        answers = [client.get("/loyalty-programs/v1/program", headers=headers) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [429, 429, 200]
        assert answers[0].headers["retry-after"] == "3"
        assert application_code(answers[0]) == "RESOURCE_EXHAUSTED"

    def test_a_429_fault_can_leave_retry_after_out(self, client: TestClient) -> None:
        """retryAfter null sends a 429 without the header."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 429, "retryAfter": None})
        answer = client.get("/loyalty-programs/v1/program", headers=headers)
        assert answer.status_code == 429 and "retry-after" not in answer.headers

    def test_a_500_fault_answers_exactly_n_calls_with_an_empty_system_error(self, client: TestClient) -> None:
        """The next N calls get 500 `{"message": "", "details": {}}`, the rest go through."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 500, "count": 2})
        answers = [client.get("/loyalty-programs/v1/program", headers=headers) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [500, 500, 200]
        assert answers[0].json() == {"message": "", "details": {}}

    def test_a_fault_with_a_path_prefix_spares_other_paths(self, client: TestClient) -> None:
        """A fault for /stores/v2/coupons leaves loyalty calls alone and hits only coupon calls."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 503, "count": 1, "pathPrefix": "/stores/v2/coupons"})
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 200
        assert client.get("/stores/v2/coupons/x", headers=headers).status_code == 503
        assert client.get("/stores/v2/coupons/x", headers=headers).status_code == 404

    def test_a_faulted_call_does_nothing(self, client: TestClient) -> None:
        """A 500 injected before the endpoint creates no coupon."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 500})
        client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
        assert client.get(f"/_fake/instances/{INSTANCE}/coupons").json() == {"coupons": []}

    def test_a_delay_fault_slows_exactly_n_calls(self, client: TestClient) -> None:
        """The next N calls are answered after the delay, normally; the next one at once."""
        headers = auth(client)
        client.post("/_fake/faults", json={"delaySeconds": 0.3, "count": 2})
        timings = []
        for _ in range(3):
            started = time.monotonic()
            assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 200
            timings.append(time.monotonic() - started)
        assert timings[0] >= 0.3 and timings[1] >= 0.3
        assert timings[2] < 0.25

    def test_a_delay_after_does_the_work_before_answering(self, client: TestClient) -> None:
        """With when=after the earn is done at once and answered late: the lost-answer case."""
        headers = auth(client)
        account = new_account(client, headers)
        client.post("/_fake/faults", json={"delaySeconds": 0.2, "when": "after", "pathPrefix": "/loyalty"})
        started = time.monotonic()
        answer = earn(client, headers, account["id"])
        assert time.monotonic() - started >= 0.2
        assert answer.json()["account"]["points"]["balance"] == 10

    def test_faults_are_listed_and_cleared(self, client: TestClient) -> None:
        """GET lists faults with remaining charges; DELETE clears them."""
        client.post("/_fake/faults", json={"status": 429, "count": 4})
        assert client.get("/_fake/faults").json()["faults"][0]["remaining"] == 4
        client.delete("/_fake/faults")
        assert client.get("/_fake/faults").json() == {"faults": []}

    def test_a_fault_needs_a_status_or_a_delay(self, client: TestClient) -> None:
        """A fault with neither a status nor a delay is refused."""
        assert client.post("/_fake/faults", json={"count": 1}).status_code == 400


class TestRandomFaults:
    def program_statuses(self, client: TestClient, headers: dict[str, str], calls: int) -> list[int]:
        return [client.get("/loyalty-programs/v1/program", headers=headers).status_code for _ in range(calls)]

    def test_a_rate_faults_about_that_share_of_calls_reproducibly(self, client: TestClient) -> None:
        """At rate 0.3 about 30% of 400 calls fail (429 or 500); the same seed fails the same calls."""
        headers = auth(client)
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 0})
        client.post("/_fake/faults", json={"rate": 0.3, "seed": 42, "kinds": ["429", "500"]})
        first = self.program_statuses(client, headers, 400)
        client.post("/_fake/faults", json={"rate": 0.3, "seed": 42, "kinds": ["429", "500"]})
        assert self.program_statuses(client, headers, 400) == first
        assert 90 <= sum(status != 200 for status in first) <= 150
        assert set(first) == {200, 429, 500}
        faulted = client.get("/_fake/calls", params={"instanceId": INSTANCE}).json()["calls"]
        assert sum(1 for call in faulted if call["fault"]) == sum(status != 200 for status in first) * 2
        shown = client.get("/_fake/faults").json()["random"]
        assert (shown["seed"], shown["calls"], sum(shown["counts"].values())) == (
            42,
            400,
            first.count(429) + first.count(500),
        )

    def test_a_random_429_has_wix_shape_and_no_retry_after_unless_asked(self, client: TestClient) -> None:
        """A random 429 is RESOURCE_EXHAUSTED without Retry-After; with retryAfter 2 it carries one."""
        headers = auth(client)
        client.post("/_fake/faults", json={"rate": 1, "seed": 1, "kinds": ["429"]})
        refused = client.get("/loyalty-programs/v1/program", headers=headers)
        assert refused.status_code == 429 and "retry-after" not in refused.headers
        assert application_code(refused) == "RESOURCE_EXHAUSTED"
        client.post("/_fake/faults", json={"rate": 1, "seed": 1, "kinds": ["429"], "retryAfter": 2})
        assert client.get("/loyalty-programs/v1/program", headers=headers).headers["retry-after"] == "2"

    def test_a_random_500_does_nothing(self, client: TestClient) -> None:
        """A random 500 is Wix's empty system error and creates no coupon."""
        headers = auth(client)
        client.post("/_fake/faults", json={"rate": 1, "seed": 1, "kinds": ["500"]})
        answer = client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
        assert (answer.status_code, answer.json()) == (500, {"message": "", "details": {}})
        assert client.get(f"/_fake/instances/{INSTANCE}/coupons").json() == {"coupons": []}

    def test_a_random_timeout_does_the_work_and_drops_the_answer(self, fake: FakeWix) -> None:
        """A random timeout creates the coupon, then the connection is dropped without an answer."""
        from worker.wix.fake.front import DroppedConnection

        with TestClient(create_app(fake)) as client:
            headers = auth(client)
            client.post("/_fake/faults", json={"rate": 1, "seed": 1, "kinds": ["timeout"]})
            with pytest.raises(DroppedConnection):
                client.post("/stores/v2/coupons", json={"specification": coupon_spec()}, headers=headers)
            client.post("/_fake/faults", json={"rate": 0})
            coupons = client.get(f"/_fake/instances/{INSTANCE}/coupons").json()["coupons"]
        assert len(coupons) == 1
        assert client.get("/_fake/calls").json()["calls"][-1]["fault"] == "random:timeout"

    def test_rate_0_and_delete_turn_them_off_and_controls_are_never_faulted(self, client: TestClient) -> None:
        """Rate 0 (or DELETE) stops random faults; /_fake/ itself is never faulted."""
        headers = auth(client)
        client.post("/_fake/faults", json={"rate": 1, "seed": 3, "kinds": ["500"]})
        assert client.get("/_fake/calls").status_code == 200
        client.post("/_fake/faults", json={"rate": 0})
        assert set(self.program_statuses(client, headers, 20)) == {200}
        client.post("/_fake/faults", json={"rate": 1, "kinds": ["500"]})
        client.delete("/_fake/faults")
        assert client.get("/_fake/faults").json() == {"faults": []}
        assert set(self.program_statuses(client, headers, 20)) == {200}

    def test_bad_random_fault_settings_are_refused(self, client: TestClient) -> None:
        """A rate above 1, an unknown kind or a negative stall is a 400."""
        for body in ({"rate": 1.5}, {"rate": 0.1, "kinds": ["418"]}, {"rate": 0.1, "stallSeconds": -1}):
            assert client.post("/_fake/faults", json=body).status_code == 400, body

    def test_oauth_is_faulted_too(self, client: TestClient) -> None:
        """The token endpoint fails at the rate as any other Wix call."""
        client.post("/_fake/faults", json={"rate": 1, "seed": 5, "kinds": ["500"]})
        assert client.post("/oauth2/token", json=token_request()).status_code == 500


class TestRateLimit:
    def test_the_201st_call_in_a_minute_is_429(self, client: TestClient, clock: Clock) -> None:
        """200 calls a minute per instance go through; the 201st is a 429 with Retry-After."""
        headers = auth(client)
        statuses = [
            client.get("/loyalty-programs/v1/program", headers=headers).status_code for _ in range(200)
        ]
        assert set(statuses) == {200}
        refused = client.get("/loyalty-programs/v1/program", headers=headers)
        assert refused.status_code == 429
        assert application_code(refused) == "RESOURCE_EXHAUSTED"
        assert refused.headers["retry-after"] == "60"
        assert client.get("/_fake/calls").json()["rateLimited"] == {INSTANCE: 1}

    def test_the_limit_is_per_instance_and_per_minute(self, client: TestClient, clock: Clock) -> None:
        """Another instance is not limited; the first is admitted again a minute later."""
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 3})
        headers = auth(client)
        for _ in range(3):
            client.get("/loyalty-programs/v1/program", headers=headers)
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 429
        assert (
            client.get("/loyalty-programs/v1/program", headers=auth(client, OTHER_INSTANCE)).status_code
            == 200
        )
        clock.advance(60)
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 200

    def test_a_limit_of_zero_turns_it_off(self, client: TestClient) -> None:
        """rateLimitPerMinute 0 admits everything."""
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 0})
        headers = auth(client)
        assert {
            client.get("/loyalty-programs/v1/program", headers=headers).status_code for _ in range(210)
        } == {200}


class TestRequestIdsAndCallLog:
    def test_every_answer_carries_its_own_request_id(self, client: TestClient) -> None:
        """Successes, 4xx, injected 429/500, unknown paths and control answers all carry x-wix-request-id."""
        headers = auth(client)
        client.post("/_fake/faults", json={"status": 429, "count": 1, "pathPrefix": "/ecom"})
        client.post("/_fake/faults", json={"status": 500, "count": 1, "pathPrefix": "/contacts"})
        answers = [
            client.post("/oauth2/token", json=token_request()),
            client.post("/oauth2/token", json=token_request(secret="wrong")),
            client.get("/loyalty-programs/v1/program", headers=headers),
            client.get("/loyalty-programs/v1/program"),
            client.post("/stores/v2/coupons", json={}, headers=headers),
            client.get("/ecom/v1/orders/x", headers=headers),
            client.get("/contacts/v4/contacts/x", headers=headers),
            client.get("/no/such/path"),
            client.get("/_fake/state"),
        ]
        assert [answer.status_code for answer in answers] == [200, 401, 200, 401, 400, 429, 500, 404, 200]
        request_ids = [answer.headers.get("x-wix-request-id") for answer in answers]
        assert all(request_ids) and len(set(request_ids)) == len(request_ids)

    def test_calls_are_logged_and_counted_per_endpoint(self, client: TestClient) -> None:
        """The call log names each endpoint by its template, with the instance and the status."""
        headers = auth(client)
        account = new_account(client, headers)
        earn(client, headers, account["id"])
        earn(client, headers, account["id"])
        log = client.get("/_fake/calls", params={"instanceId": INSTANCE}).json()
        assert log["counts"] == {
            "POST /oauth2/token": 1,
            "POST /loyalty-accounts/v1/accounts": 1,
            "POST /loyalty-accounts/v1/accounts/{account_id}/earn-points": 2,
        }
        assert [call["status"] for call in log["calls"]] == [200, 200, 200, 200]
        assert log["calls"][0]["body"]["client_secret"] == "***"

    def test_reset_forgets_everything_but_the_key(self, client: TestClient, fake: FakeWix) -> None:
        """Reset drops instances, tokens, faults and calls, and restores the settings."""
        headers = auth(client)
        new_account(client, headers)
        client.patch("/_fake/settings", json={"rateLimitPerMinute": 5})
        client.post("/_fake/faults", json={"status": 500})
        key = fake.public_key_pem
        client.post("/_fake/reset")
        assert client.get("/_fake/state").json()["instances"] == {}
        assert client.get("/_fake/settings").json()["rateLimitPerMinute"] == 200
        assert client.get("/_fake/calls").json()["total"] == 0
        assert client.get("/loyalty-programs/v1/program", headers=headers).status_code == 401
        assert client.get("/_fake/public-key").text == key == fake.public_key_pem


class TestWebhookPayloads:
    @pytest.mark.parametrize("event_type", sorted(HANDLED_EVENT_TYPES))
    def test_every_handled_type_is_signed_and_read_as_our_receiver_reads_it(
        self, event_type: str, private_key: Any, public_key_pem: str
    ) -> None:
        """A signed payload for each handled type verifies, unwraps and normalizes to an event."""
        options = EventOptions(order_id="order-9", contact_id=CONTACT, total="12.50", app_id=APP_ID)
        payload = build_payload(event_type, options)
        token = sign_webhook(private_key, event_type, INSTANCE, payload)
        claims = TokenVerifier(load_public_key(public_key_pem)).verify(token)
        envelope = parse_envelope(claims, token.encode())
        assert (envelope.event_type, envelope.instance_id) == (event_type, INSTANCE)
        if event_type not in ("AppInstalled", "AppRemoved"):
            assert envelope.event_id == options.event_id
        try:
            event = normalize(
                event_type=event_type, instance_id=INSTANCE, event_id=envelope.event_id, payload=payload
            )
        except EventIgnored:
            pytest.fail(f"{event_type} was ignored")
        if event.order is not None and event_type != "wix.ecom.v1.fulfillments_updated":
            assert event.order.id == "order-9"
            assert event.contactId == CONTACT

    def test_every_builder_is_known_by_type(self) -> None:
        """The builders cover every event type our receiver handles."""
        assert set(BUILDERS) >= HANDLED_EVENT_TYPES


class TestLoyaltyProgram:
    def test_activate_and_pause_move_the_program_between_states(self, client: TestClient) -> None:
        """DRAFT → activate → ACTIVE → pause → PAUSED → activate → ACTIVE; repeats change nothing."""
        headers = auth(client)
        client.put(f"/_fake/instances/{INSTANCE}/program", json={"status": "DRAFT"})
        drafted = client.post("/loyalty-programs/v1/program/pause", headers=headers)
        assert drafted.status_code == 428
        assert application_code(drafted) == "FAILED_PRECONDITION"
        assert drafted.headers["x-wix-request-id"]
        statuses = []
        for action in ("activate", "activate", "pause", "pause", "activate"):
            answer = client.post(f"/loyalty-programs/v1/program/{action}", headers=headers)
            assert answer.status_code == 200
            assert answer.headers["x-wix-request-id"]
            statuses.append(answer.json()["loyaltyProgram"]["status"])
        assert statuses == ["ACTIVE", "ACTIVE", "PAUSED", "PAUSED", "ACTIVE"]
        program = client.get("/loyalty-programs/v1/program", headers=headers).json()["loyaltyProgram"]
        assert program["status"] == "ACTIVE"
        assert program["pointDefinition"]["customName"] == "Points"

    def test_a_paused_program_refuses_accounts_and_points_until_activated(
        self, client: TestClient, clock: Clock
    ) -> None:
        """While PAUSED: create, earn and adjust are 428 FAILED_PRECONDITION; after activate they work."""
        headers = auth(client)
        account = new_account(client, headers)
        paused = client.post("/loyalty-programs/v1/program/pause", headers=headers).json()["loyaltyProgram"]
        assert paused["status"] == "PAUSED"
        refused = [
            client.post("/loyalty-accounts/v1/accounts", json={"contactId": "other"}, headers=headers),
            earn(client, headers, account["id"], idempotencyKey="paused-1"),
            client.post(
                f"/loyalty-accounts/v1/accounts/{account['id']}/adjust-points",
                json={"amount": 5, "revision": account["revision"]},
                headers=headers,
            ),
        ]
        assert [answer.status_code for answer in refused] == [428, 428, 428]
        assert {application_code(answer) for answer in refused} == {"FAILED_PRECONDITION"}
        clock.advance(5)
        activated = client.post("/loyalty-programs/v1/program/activate", headers=headers)
        assert activated.json()["loyaltyProgram"]["updatedDate"] > paused["updatedDate"]
        assert earn(client, headers, account["id"], idempotencyKey="paused-1").status_code == 200
        assert new_account(client, headers, "other")["contactId"] == "other"

    def test_program_changes_need_an_app_token(self, client: TestClient) -> None:
        """No token is a 401; a member token is a 403."""
        assert client.post("/loyalty-programs/v1/program/pause").status_code == 401
        token = client.post(f"/_fake/instances/{INSTANCE}/member-tokens", json={"memberId": "m-1"})
        member = {"Authorization": token.json()["token"]}
        assert client.post("/loyalty-programs/v1/program/pause", headers=member).status_code == 403


class TestContactsQuery:
    def test_paging_through_250_contacts_in_pages_of_100(self, client: TestClient) -> None:
        """Bulk-seeded contacts come back once each over offset pages of 100, 100 and 50."""
        headers = auth(client)
        seeded = client.post(f"/_fake/instances/{INSTANCE}/contacts/bulk", json={"count": 250})
        assert seeded.status_code == 200
        assert seeded.json()["total"] == 250
        seen: list[str] = []
        counts = []
        offset = 0
        while True:
            answer = client.post(
                "/contacts/v4/contacts/query",
                json={"query": {"paging": {"limit": 100, "offset": offset}}},
                headers=headers,
            )
            assert answer.status_code == 200
            assert answer.headers["x-wix-request-id"]
            body = answer.json()
            assert body["pagingMetadata"]["total"] == 250
            assert body["pagingMetadata"]["offset"] == offset
            counts.append(body["pagingMetadata"]["count"])
            seen.extend(contact["id"] for contact in body["contacts"])
            if not body["contacts"]:
                break
            offset += len(body["contacts"])
        assert counts == [100, 100, 50, 0]
        assert len(seen) == len(set(seen)) == 250
        assert set(seen) == set(seeded.json()["ids"])
        # Newest first by default: the last one seeded comes first.
        assert seen[0] == seeded.json()["ids"][-1]

    def test_filter_by_email_and_defaults(self, client: TestClient) -> None:
        """`info.emails.email` matches one of the contact's emails; the default limit is 50."""
        headers = auth(client)
        client.post(f"/_fake/instances/{INSTANCE}/contacts/bulk", json={"count": 60})
        query = {"filter": {"info.emails.email": "contact-00007@example.com"}}
        found = client.post("/contacts/v4/contacts/query", json={"query": query}, headers=headers).json()
        assert [contact["primaryInfo"]["email"] for contact in found["contacts"]] == [
            "contact-00007@example.com"
        ]
        everyone = client.post("/contacts/v4/contacts/query", json={}, headers=headers).json()
        assert everyone["pagingMetadata"] == {"count": 50, "offset": 0, "total": 60, "tooManyToCount": False}
        searched = client.post(
            "/contacts/v4/contacts/query", json={"search": "CONTACT-00012"}, headers=headers
        ).json()
        assert searched["pagingMetadata"]["total"] == 1

    def test_bad_paging_is_a_validation_error(self, client: TestClient) -> None:
        headers = auth(client)
        for query in (
            {"paging": {"limit": 1001}},
            {"paging": {"offset": -1}},
            {"cursorPaging": {"limit": 10}},
        ):
            answer = client.post("/contacts/v4/contacts/query", json={"query": query}, headers=headers)
            assert answer.status_code == 400
            assert answer.json()["details"]["validationError"]["fieldViolations"]
        bulk = client.post(f"/_fake/instances/{INSTANCE}/contacts/bulk", json={"count": 0})
        assert bulk.status_code == 400


def seed_orders(client: TestClient, clock: Clock, count: int) -> list[str]:
    """`count` orders, each created (and updated) ten seconds after the one before; their ids."""
    ids = []
    for index in range(count):
        order_id = f"00000000-0000-4000-8000-{index:012d}"
        order = order_object(order_id, number=str(10000 + index), created=clock())
        assert client.post(f"/_fake/instances/{INSTANCE}/orders", json=order).status_code == 200
        ids.append(order_id)
        clock.advance(10)
    return ids


def search_orders(client: TestClient, headers: dict[str, str], search: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/ecom/v1/orders/search", json={"search": search}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-wix-request-id"]
    body: dict[str, Any] = answer.json()
    return body


class TestOrdersSearch:
    def test_updated_date_filter_over_two_pages(self, client: TestClient, clock: Clock) -> None:
        """`updatedDate $gte` picks the later orders; a cursor carries the search to the second page."""
        headers = auth(client)
        ids = seed_orders(client, clock, 10)
        since = client.get(f"/_fake/instances/{INSTANCE}/orders").json()["orders"][3]["updatedDate"]
        search = {
            "filter": {"updatedDate": {"$gte": since}},
            "sort": [{"fieldName": "updatedDate", "order": "ASC"}],
            "cursorPaging": {"limit": 4},
        }
        first = search_orders(client, headers, search)
        assert [order["id"] for order in first["orders"]] == ids[3:7]
        assert first["metadata"]["count"] == 4
        assert first["metadata"]["hasNext"] is True
        cursor = first["metadata"]["cursors"]["next"]
        second = search_orders(client, headers, {"cursorPaging": {"limit": 4, "cursor": cursor}})
        assert [order["id"] for order in second["orders"]] == ids[7:10]
        assert second["metadata"]["hasNext"] is False
        assert "next" not in second["metadata"]["cursors"]

    def test_defaults_newest_first_without_initialized_orders(self, client: TestClient, clock: Clock) -> None:
        """By default createdDate DESC, and INITIALIZED orders are never returned."""
        headers = auth(client)
        ids = seed_orders(client, clock, 3)
        hidden = order_object("00000000-0000-4000-8000-999999999999", status="INITIALIZED", created=clock())
        client.post(f"/_fake/instances/{INSTANCE}/orders", json=hidden)
        found = search_orders(client, headers, {})
        assert [order["id"] for order in found["orders"]] == ids[::-1]
        assert found["metadata"] == {"count": 3, "cursors": {}, "hasNext": False}

    def test_an_order_updated_while_paging_is_neither_skipped_nor_repeated(
        self, client: TestClient, clock: Clock
    ) -> None:
        """The cursor remembers the last order given, not an offset: moving an earlier order to the end
        leaves the rest of the pages whole, and the moved order comes again only because it changed."""
        headers = auth(client)
        ids = seed_orders(client, clock, 6)
        search = {
            "filter": {"createdDate": {"$gte": "2000-01-01T00:00:00Z"}},
            "sort": [{"fieldName": "updatedDate", "order": "ASC"}],
            "cursorPaging": {"limit": 3},
        }
        first = search_orders(client, headers, search)
        moved = {**first["orders"][0], "updatedDate": "2099-01-01T00:00:00.000Z"}
        client.post(f"/_fake/instances/{INSTANCE}/orders", json=moved)
        cursor = first["metadata"]["cursors"]["next"]
        second = search_orders(client, headers, {"cursorPaging": {"limit": 3, "cursor": cursor}})
        assert [order["id"] for order in second["orders"]] == [*ids[3:6]]
        cursor = second["metadata"]["cursors"]["next"]
        third = search_orders(client, headers, {"cursorPaging": {"limit": 3, "cursor": cursor}})
        assert [order["id"] for order in third["orders"]] == [ids[0]]

    def test_bad_search_is_a_validation_error(self, client: TestClient) -> None:
        headers = auth(client)
        for search in (
            {"cursorPaging": {"cursor": "not-a-cursor"}},
            {"cursorPaging": {"limit": 101}},
            {"filter": {"updatedDate": {"$gte": ["x"]}}},
            {"sort": [{"fieldName": "updatedDate", "order": "UP"}]},
        ):
            answer = client.post("/ecom/v1/orders/search", json={"search": search}, headers=headers)
            assert answer.status_code == 400, search
