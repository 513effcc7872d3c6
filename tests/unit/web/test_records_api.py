"""The API clients' routes and the operators' program routes (fakeredis; real HTTP in integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from fastapi.testclient import TestClient

from worker.dev.programs import BASE_PROGRAM
from worker.dispatch import RecordedDispatcher
from worker.settings import Settings
from worker.store.progress import Contention, ProgressStore
from worker.web.app import create_app

pytestmark = pytest.mark.calendar  # dates here must hold on any day: see tests/clock.py

ADMIN = {"authorization": "Bearer admin-secret"}


@pytest.fixture
def client(fake_async, fake_store, public_key_pem) -> TestClient:
    settings = Settings(
        redis_url="redis://unused", wix_public_key=public_key_pem, admin_token="admin-secret", _env_file=None
    )  # type: ignore[call-arg]
    client = TestClient(
        create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=RecordedDispatcher())
    )
    assert (
        client.put("/admin/v1/instances/inst-1/program", json=BASE_PROGRAM, headers=ADMIN).status_code == 200
    )
    return client


def api_key(client: TestClient, instance: str = "inst-1") -> dict[str, str]:
    response = client.post(f"/admin/v1/instances/{instance}/api-keys", headers=ADMIN)
    assert response.status_code == 201
    return {"authorization": f"Bearer {response.json()['apiKey']}"}


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def challenge_log(uid: str, value: str = "300", **changes: object) -> dict[str, object]:
    return {
        "contactId": "c1",
        "challengeId": "spend-500",
        "activityId": "order_paid",
        "activityValue": value,
        "activityAt": now_iso(),
        "uniqueIdentifier": uid,
        **changes,
    }


class TestProgramRoutes:
    def test_put_yaml_bumps_the_version_and_get_returns_it(self, client) -> None:
        """A YAML program replaces the JSON one: version 2, and GET shows it."""
        response = client.put(
            "/admin/v1/instances/inst-1/program",
            content=yaml.safe_dump(BASE_PROGRAM),
            headers={**ADMIN, "content-type": "application/yaml"},
        )
        assert response.status_code == 200
        assert response.json()["version"] == 2
        shown = client.get("/admin/v1/instances/inst-1/program", headers=ADMIN).json()
        assert shown["version"] == 2
        assert shown["program"]["streaks"][0]["id"] == "weekly-shopper"

    def test_every_problem_is_answered_at_once(self, client) -> None:
        """Two mistakes: 422 listing both paths; the stored program is unchanged."""
        broken = json.loads(json.dumps(BASE_PROGRAM))
        broken["streaks"][0]["milestones"][1]["milestoneTargetValue"] = 0
        broken["challenges"][0]["aggregationMethod"] = "avg"
        response = client.put("/admin/v1/instances/inst-1/program", json=broken, headers=ADMIN)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_program"
        paths = {problem["path"] for problem in error["details"]}
        assert paths == {"streaks[0].milestones[1].milestoneTargetValue", "challenges[0].aggregationMethod"}
        assert client.get("/admin/v1/instances/inst-1/program", headers=ADMIN).json()["version"] == 1

    def test_program_routes_need_the_admin_token(self, client) -> None:
        """No admin token: 401."""
        assert client.get("/admin/v1/instances/inst-1/program").status_code == 401

    def test_an_unknown_instance_has_no_program(self, client) -> None:
        """404 for an instance that never got one."""
        assert client.get("/admin/v1/instances/nobody/program", headers=ADMIN).status_code == 404


class TestRecordLogs:
    def test_a_challenge_log_is_recorded_with_its_answer(self, client) -> None:
        """201 with the log, challengeProgress, taskProgress and the halfway milestone's reward log."""
        response = client.post(
            "/schema/challenge_log/record", json=challenge_log("order-1"), headers=api_key(client)
        )
        assert response.status_code == 201
        answer = response.json()
        assert answer["log"]["uniqueIdentifier"] == "order-1"
        assert answer["challengeProgress"]["currentProgressValue"] == "300"
        assert answer["achievedMilestone"]["id"] == "half"
        assert answer["achievedMilestoneRewardLog"]["status"] == "pending"
        assert answer["nextMilestone"]["id"] == "full"

    def test_a_duplicate_is_409_with_the_original_answer(self, client) -> None:
        """The same uniqueIdentifier again: 409 duplicate carrying the first answer."""
        key = api_key(client)
        first = client.post("/schema/challenge_log/record", json=challenge_log("order-1"), headers=key).json()
        again = client.post("/schema/challenge_log/record", json=challenge_log("order-1", "5"), headers=key)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "duplicate"
        assert again.json()["error"]["details"] == first

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"challengeId": "nope"}, "no challenge"),
            ({"activityId": "visited"}, "does not take"),
            ({"activityAt": "2026-11-24T10:00:00"}, "timezone"),
            ({"activityAt": "yesterday"}, "ISO-8601"),
            ({"activityValue": "-3"}, "negative"),
        ],
    )
    def test_what_the_domain_refuses_is_422_with_the_reason(self, client, changes, reason) -> None:
        """A well-formed log the domain rejects: 422 saying why, nothing recorded."""
        response = client.post(
            "/schema/challenge_log/record", json=challenge_log("order-x", **changes), headers=api_key(client)
        )
        assert response.status_code == 422
        assert reason in response.json()["error"]["message"]

    def test_a_future_log_is_refused(self, client) -> None:
        """More than five minutes ahead is refused."""
        log = challenge_log("order-f", activityAt=now_iso(timedelta(hours=1)))
        response = client.post("/schema/challenge_log/record", json=log, headers=api_key(client))
        assert response.status_code == 422

    def test_a_malformed_body_is_422_with_the_field(self, client) -> None:
        """A missing field is named."""
        log = challenge_log("order-m")
        del log["contactId"]
        response = client.post("/schema/challenge_log/record", json=log, headers=api_key(client))
        assert response.status_code == 422
        assert any(detail["path"] == "body.contactId" for detail in response.json()["error"]["details"])

    def test_a_streak_log_for_a_paused_streak_is_refused(self, client) -> None:
        """Only live streaks take logs."""
        log = {**challenge_log("order-p"), "streakId": "paused-one"}
        del log["challengeId"]
        response = client.post("/schema/streak_log/record", json=log, headers=api_key(client))
        assert response.status_code == 422
        assert "paused" in response.json()["error"]["message"]

    def test_an_unknown_key_is_401(self, client) -> None:
        """Without a valid instance API key nothing is recorded."""
        for headers in ({}, {"authorization": "Bearer wrw_nope"}, {"authorization": "Basic x"}):
            response = client.post("/schema/challenge_log/record", json=challenge_log("o"), headers=headers)
            assert response.status_code == 401


class TestBusy:
    def test_a_member_kept_busy_by_other_writers_is_503_not_500(self, client, monkeypatch) -> None:
        """When other writers keep changing the member's state, the client is told to try again."""

        def busy(*_: object) -> None:
            raise Contention

        monkeypatch.setattr(ProgressStore, "record", busy)
        response = client.post(
            "/schema/challenge_log/record", json=challenge_log("o-1"), headers=api_key(client)
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert "try again" in response.json()["error"]["message"]


class TestRewardLogs:
    def reward_log_id(self, client, key) -> str:  # type: ignore[no-untyped-def]
        answer = client.post(
            "/schema/challenge_log/record", json=challenge_log("order-1"), headers=key
        ).json()
        return str(answer["achievedMilestoneRewardLog"]["id"])

    def test_patch_issues_and_the_same_values_change_nothing(self, client) -> None:
        """Stamping a coupon marks it issued; the same values again answer the same log."""
        key = api_key(client)
        reward_id = self.reward_log_id(client, key)
        patch = {
            "couponCode": "HALF-1",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2026-12-24T10:00:00Z",
        }
        issued = client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key)
        assert issued.status_code == 200
        assert issued.json()["status"] == "issued"
        assert issued.json()["couponCode"] == "HALF-1"
        again = client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key)
        assert again.json() == issued.json()
        assert client.get(f"/schema/reward_log/{reward_id}", headers=key).json() == issued.json()

    def test_patch_reports_reward_issued_once(self, client) -> None:
        """The PATCH issues through the domain's one path: reward_issued is reported once; the same
        values again, or another code (409), report nothing more."""
        key = api_key(client)
        reward_id = self.reward_log_id(client, key)
        patch = {
            "couponCode": "HALF-1",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2026-12-24T10:00:00Z",
        }
        follow_ups = client.app.state.follow_ups  # type: ignore[attr-defined]
        follow_ups.reports.clear()  # the milestone_achieved of the log's recording
        assert client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key).status_code == 200
        assert follow_ups.reports == [("inst-1", "reward_issued", reward_id)]
        client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key)
        other = client.patch(
            f"/schema/reward_log/{reward_id}", json={**patch, "couponCode": "B"}, headers=key
        )
        assert other.status_code == 409
        assert follow_ups.reports == [("inst-1", "reward_issued", reward_id)]

    def test_another_code_on_an_issued_log_is_409(self, client) -> None:
        """A reward is issued once."""
        key = api_key(client)
        reward_id = self.reward_log_id(client, key)
        patch = {
            "couponCode": "A",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2026-12-24T10:00:00Z",
        }
        client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key)
        response = client.patch(
            f"/schema/reward_log/{reward_id}", json={**patch, "couponCode": "B"}, headers=key
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"

    def test_expiry_must_follow_issue(self, client) -> None:
        """An expiry before the issue time is refused."""
        key = api_key(client)
        reward_id = self.reward_log_id(client, key)
        patch = {
            "couponCode": "A",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2026-11-23T10:00:00Z",
        }
        assert client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=key).status_code == 422

    def test_another_instances_reward_log_is_not_found(self, client) -> None:
        """A key of instance 2 cannot see or change instance 1's reward logs."""
        reward_id = self.reward_log_id(client, api_key(client))
        other = api_key(client, "inst-2")
        assert client.get(f"/schema/reward_log/{reward_id}", headers=other).status_code == 404
        patch = {
            "couponCode": "A",
            "rewardIssuedAt": "2026-11-24T10:00:00Z",
            "rewardExpiryAt": "2026-12-24T10:00:00Z",
        }
        assert client.patch(f"/schema/reward_log/{reward_id}", json=patch, headers=other).status_code == 404


class TestMemberProgress:
    def test_progress_shows_streaks_challenges_and_reward_logs(self, client) -> None:
        """After a log, the member's view has the challenge total, the streak's week and the reward log."""
        key = api_key(client)
        client.post("/schema/challenge_log/record", json=challenge_log("order-1"), headers=key)
        streak_log = {**challenge_log("order-1-streak", "1"), "streakId": "weekly-shopper"}
        del streak_log["challengeId"]
        assert client.post("/schema/streak_log/record", json=streak_log, headers=key).status_code == 201
        progress = client.get("/v1/members/c1/progress", headers=key).json()
        [spend] = [c for c in progress["challenges"] if c["challengeId"] == "spend-500"]
        assert spend["challengeProgress"]["currentProgressValue"] == "300"
        [weekly] = [s for s in progress["streaks"] if s["streakId"] == "weekly-shopper"]
        assert weekly["streakProgress"]["currentProgressValue"] == 1
        assert weekly["taskProgress"]["complete"] is True
        assert [r["milestoneId"] for r in progress["rewardLogs"]] == ["half"]

    def test_an_instance_without_a_program_is_404_naming_it(self, client) -> None:
        """The same answer the widget gives for it: 404 not_found naming the instance."""
        response = client.get("/v1/members/c1/progress", headers=api_key(client, "inst-2"))
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "no program for instance 'inst-2'",
            "details": {"instance": "inst-2"},
        }

    def test_the_openapi_document_covers_the_routes(self, client) -> None:
        """/docs has every record route, with examples."""
        spec = client.get("/openapi.json").json()
        for path in (
            "/schema/streak_log/record",
            "/schema/challenge_log/record",
            "/schema/reward_log/{reward_log_id}",
            "/v1/members/{contact_id}/progress",
            "/admin/v1/instances/{instance_id}/program",
            "/admin/v1/instances/{instance_id}/api-keys",
            "/webhooks/wix",
        ):
            assert path in spec["paths"], path
        assert "example" in json.dumps(spec["components"]["schemas"]["StreakLogIn"])


class TestProgramChanges:
    def test_progress_survives_a_change_of_definitions(self, client) -> None:
        """Renaming milestones and raising a target keeps the member's logs and totals."""
        key = api_key(client)
        client.post("/schema/challenge_log/record", json=challenge_log("order-1"), headers=key)
        changed = json.loads(json.dumps(BASE_PROGRAM))
        changed["challenges"][0]["completionTargetValue"] = 1000
        changed["challenges"][0]["milestones"] = [
            {"id": "grand", "name": "Grand", "milestoneTargetValue": 600}
        ]
        assert (
            client.put("/admin/v1/instances/inst-1/program", json=changed, headers=ADMIN).json()["version"]
            == 2
        )
        answer = client.post(
            "/schema/challenge_log/record", json=challenge_log("order-2"), headers=key
        ).json()
        assert answer["challengeProgress"]["currentProgressValue"] == "600"
        assert answer["challengeProgress"]["completionTargetValue"] == "1000"
        assert answer["achievedMilestone"]["id"] == "grand"


class TestFollowUps:
    def test_a_coupon_reward_is_sent_for_fulfilment_and_a_manual_one_is_not(
        self, fake_async, fake_store, public_key_pem
    ) -> None:
        """Two weeks of a streak earn a coupon reward: its fulfilment is sent; the manual halfway is not."""
        # Last week's log is logged a week late; a grace of eight days keeps it on time on any weekday
        # (with the usual 72 hours it would be late from Thursday on).
        program = {**BASE_PROGRAM, "lateLogGraceHours": 8 * 24}
        follow_ups = RecordedDispatcher()
        settings = Settings(
            redis_url="redis://unused",
            wix_public_key=public_key_pem,
            admin_token="admin-secret",
            _env_file=None,
        )  # type: ignore[call-arg]
        client = TestClient(
            create_app(settings, async_redis=fake_async, store=fake_store, follow_ups=follow_ups)
        )
        client.put("/admin/v1/instances/inst-1/program", json=program, headers=ADMIN)
        key = api_key(client)
        halfway = client.post("/schema/challenge_log/record", json=challenge_log("o-1"), headers=key).json()
        assert halfway["achievedMilestoneRewardLog"]["reward"]["type"] == "manual"
        assert follow_ups.sent == []
        for uid, days in (("w-1", 7), ("w-2", 0)):
            log = {
                **challenge_log(uid, "1"),
                "streakId": "weekly-shopper",
                "activityAt": now_iso(timedelta(days=-days)),
            }
            del log["challengeId"]
            answer = client.post("/schema/streak_log/record", json=log, headers=key).json()
        coupon_log = answer["achievedMilestoneRewardLog"]
        assert coupon_log["reward"]["type"] == "coupon"
        assert follow_ups.sent == [("inst-1", coupon_log["id"])]
