"""The one table from domain exceptions to HTTP answers (worker/web/errors.py): each listed exception,
raised by any route, answers its status and code, in the contract's `error` shape on the contract's
routes and in Wix's `applicationError` shape on the Wix actions'."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from worker.analytics.overview import BadRange
from worker.engine.logs import LogRejected
from worker.engine.program import ProgramInvalid
from worker.engine.storefront import UnknownResource
from worker.identifiers import InvalidIdentifier
from worker.jobs.runner import UnknownJob
from worker.loyalty.referral_claims import ClaimRefused, NoReferralProgram, UnknownReferralCode
from worker.loyalty.referral_records import NoReferral
from worker.loyalty.spending import RedeemRefused
from worker.progress.record import Conflict, NotFound
from worker.store.audit_log import InvalidAuditEntry
from worker.store.instances import InstanceRemoved
from worker.store.program_versions import NoDraft, NoVersion
from worker.store.progress import Contention, NoProgram
from worker.storefront.sessions import TokenRefused, WixUnavailable, WrongInstance
from worker.storefront.widget_tokens import InvalidWidgetToken
from worker.sync.inbound import InboundRefused
from worker.web.errors import DOMAIN_ERRORS, Answer, ApiError, ApplicationErrorRoute, install_error_handlers
from worker.wix.client import WixError, WixTransientError
from worker.wix.tokens import InvalidToken

PROBLEMS = [{"path": "streaks[0].id", "message": "is required"}]

# (the exception a route lets rise, status, code, message, details)
CASES: list[tuple[Exception, int, str, str, Any]] = [
    (LogRejected("streak 'x' is paused, not live"), 422, "rejected", "streak 'x' is paused, not live", None),
    (
        InvalidIdentifier("not an instance id for a key: '/'"),
        422,
        "invalid_request",
        "not an instance id for a key: '/'",
        None,
    ),
    (ProgramInvalid(PROBLEMS), 422, "invalid_program", "the program has problems", PROBLEMS),
    (NotFound("no reward log rl_1"), 404, "not_found", "no reward log rl_1", None),
    (Conflict("already issued"), 409, "conflict", "already issued", None),
    (Contention(), 503, "unavailable", "the member's progress is busy; try again", None),
    (NoProgram("inst-1"), 404, "not_found", "no program for instance 'inst-1'", {"instance": "inst-1"}),
    (UnknownJob("no job named 'x'"), 404, "not_found", "no job named 'x'", None),
    (UnknownResource("theme", "dark"), 404, "not_found", "no theme with id 'dark'", {"theme": "dark"}),
    (InvalidWidgetToken("expired"), 401, "invalid_token", "expired", None),
    (TokenRefused("Wix does not know it"), 401, "invalid_token", "Wix does not know it", None),
    (WrongInstance("another site"), 403, "wrong_instance", "another site", None),
    (WixUnavailable("Wix does not answer"), 503, "wix_unavailable", "Wix does not answer", None),
    (
        InvalidToken("expired", "the token has expired"),
        401,
        "invalid_token",
        "the token has expired",
        {"reason": "expired"},
    ),
    (
        InstanceRemoved("inst-1"),
        401,
        "instance_removed",
        "the app was removed from the site of instance 'inst-1'",
        None,
    ),
    (WixError("no credentials"), 502, "wix_refused", "no credentials", None),
    (
        InboundRefused("the request is not valid", [{"path": "amount", "message": "Field required"}]),
        422,
        "invalid_request",
        "the request is not valid",
        [{"path": "amount", "message": "Field required"}],
    ),
    (
        BadRange("days must be one of 7, 30, 90, not 8"),
        422,
        "invalid_request",
        "days must be one of 7, 30, 90, not 8",
        {"days": [7, 30, 90]},
    ),
    (NoDraft("inst-1"), 404, "not_found", "instance inst-1 has no draft", {"instance": "inst-1"}),
    (NoVersion("inst-1", 7), 404, "not_found", "instance inst-1 has no program version 7", {"version": 7}),
    (
        InvalidAuditEntry("who is 1 to 200 characters"),
        422,
        "invalid_request",
        "who is 1 to 200 characters",
        None,
    ),
    (
        RedeemRefused(409, "insufficient_points", "this reward costs 100 points", {"costInPoints": 100}),
        409,
        "insufficient_points",
        "this reward costs 100 points",
        {"costInPoints": 100},
    ),
    (UnknownReferralCode("no such code"), 404, "not_found", "no such code", None),
    (NoReferral("referred by nobody"), 404, "not_found", "referred by nobody", None),
    (NoReferralProgram("no referral programme"), 404, "not_found", "no referral programme", None),
    (ClaimRefused("same_contact", "own code"), 422, "claim_refused", "own code", {"reason": "same_contact"}),
]


class _Paused(LogRejected):
    """A subclass nobody listed: it answers as LogRejected does."""


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    contract = APIRouter()
    actions = APIRouter(route_class=ApplicationErrorRoute)

    @contract.get("/contract")
    @actions.get("/action")
    def fail() -> None:
        raise exc

    app.include_router(contract)
    app.include_router(actions)
    return TestClient(app, raise_server_exceptions=False)


class TestTheTable:
    def test_every_entry_is_covered_here(self) -> None:
        """A new entry in the table gets a case here too."""
        assert {type(case[0]) for case in CASES} == set(DOMAIN_ERRORS)

    @pytest.mark.parametrize(
        ("exc", "status", "code", "message", "details"), CASES, ids=lambda v: type(v).__name__
    )
    def test_a_contract_route_answers_in_the_error_shape(self, exc, status, code, message, details) -> None:
        """`{"error": {code, message, details}}` with the entry's status."""
        response = app_raising(exc).get("/contract")
        assert response.status_code == status
        assert response.json() == {"error": {"code": code, "message": message, "details": details}}

    @pytest.mark.parametrize(
        ("exc", "status", "code", "message", "details"), CASES, ids=lambda v: type(v).__name__
    )
    def test_a_wix_action_answers_in_the_application_error_shape(
        self, exc, status, code, message, details
    ) -> None:
        """`{"applicationError": {code, description, data}}`: `data` an object, a list under `problems`."""
        response = app_raising(exc).get("/action")
        assert response.status_code == status
        data = {} if details is None else details if isinstance(details, dict) else {"problems": details}
        assert response.json() == {"applicationError": {"code": code, "description": message, "data": data}}

    def test_a_subclass_answers_as_its_listed_ancestor(self) -> None:
        response = app_raising(_Paused("paused")).get("/contract")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "rejected"


class _WixSaid(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"Wix answered {status}")
        self.status = status


class TestAnEntryDecidedByTheException:
    def test_a_function_entry_decides_status_and_code_from_the_exception(self, monkeypatch) -> None:
        """An entry may be a function of the exception: here Wix's own status picks the answer."""

        def decide(exc: _WixSaid) -> Answer:
            if exc.status == 400:
                return Answer(422, "wix_rejected")
            return Answer(502, "wix_refused", details=lambda e: {"wixStatus": e.status})

        monkeypatch.setitem(DOMAIN_ERRORS, _WixSaid, decide)
        rejected = app_raising(_WixSaid(400)).get("/contract")
        assert rejected.status_code == 422
        assert rejected.json()["error"] == {
            "code": "wix_rejected",
            "message": "Wix answered 400",
            "details": None,
        }
        refused = app_raising(_WixSaid(403)).get("/action")
        assert refused.status_code == 502
        assert refused.json()["applicationError"]["data"] == {"wixStatus": 403}


class TestOtherErrors:
    def test_an_api_error_answers_in_the_shape_of_its_route(self) -> None:
        """What only the web layer knows (`ApiError`) takes the route's shape too."""
        client = app_raising(ApiError(413, "too_large", "the body exceeds 10 bytes"))
        assert client.get("/contract").json()["error"]["code"] == "too_large"
        assert client.get("/action").json()["applicationError"]["code"] == "too_large"
        assert client.get("/action").status_code == 413

    def test_redis_unavailable_is_503_in_either_shape(self) -> None:
        client = app_raising(redis.ConnectionError("refused"))
        contract, action = client.get("/contract"), client.get("/action")
        assert contract.status_code == action.status_code == 503
        assert contract.json()["error"]["code"] == "unavailable"
        assert action.json()["applicationError"]["code"] == "unavailable"

    def test_an_unlisted_exception_is_a_500_that_says_nothing_of_it(self) -> None:
        """A bug is a 500 `internal_error`, never the exception's text."""
        response = app_raising(ValueError("secret detail")).get("/contract")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "secret" not in response.text


def test_wix_not_answering_is_503_with_when_to_try_again() -> None:
    """A Wix failure that may pass (after the client's tries in place) tells the caller when to retry."""
    response = app_raising(WixTransientError("503 from Wix", status=503, retry_after=7)).get("/contract")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "wix_unavailable" and error["details"]["retryAfter"] == 7
