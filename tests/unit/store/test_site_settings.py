"""Per-site settings (worker/store/site_settings.py): resolution over the environment, validation, masking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from worker import keys
from worker.identifiers import InvalidIdentifier
from worker.settings import Settings
from worker.store.site_settings import (
    SiteSettingsPatch,
    any_site_sync_secret,
    default_site_settings,
    describe,
    mask,
    site_settings_for,
    stored_site_settings,
    update_site_settings,
)

INSTANCE = "inst-a"
OTHER = "inst-b"
ENV_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SITE_SECRET = "whsec_c2l0ZS1hLW93bi1zZWNyZXQtMjQtYnl0ZXMhIQ=="  # 28 bytes
ENV_URL = "https://env.example.test/hooks"


def env(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "external_sync_url": ENV_URL,
        "external_sync_secret": ENV_SECRET,
        "external_sync_match_by": "email",
        "_env_file": None,
        **changes,
    }
    return Settings(**values)


def patch(**fields: Any) -> SiteSettingsPatch:
    return SiteSettingsPatch.model_validate(fields)


class TestResolution:
    def test_an_instance_that_set_nothing_takes_every_default(self, fake_store) -> None:
        """Every field is the environment's, and says so."""
        site = site_settings_for(fake_store, INSTANCE, env())
        assert (site.sync_url, site.sync_match_by, site.auto_bootstrap, site.reward_expiring_notice_days) == (
            ENV_URL,
            "email",
            False,
            3,
        )
        assert site.sync_secret is not None and site.sync_secret.get_secret_value() == ENV_SECRET
        assert set(site.sources.values()) == {"default"}

    def test_the_new_settings_default_to_off_and_three_days(self) -> None:
        """AUTO_BOOTSTRAP is off and REWARD_EXPIRING_NOTICE_DAYS is 3 unless the environment says more."""
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert (settings.auto_bootstrap, settings.reward_expiring_notice_days) == (False, 3)

    def test_the_environment_s_values_are_each_instance_s_default(self, fake_store, monkeypatch) -> None:
        """AUTO_BOOTSTRAP=true and REWARD_EXPIRING_NOTICE_DAYS=10 reach an instance that set nothing."""
        monkeypatch.setenv("AUTO_BOOTSTRAP", "true")
        monkeypatch.setenv("REWARD_EXPIRING_NOTICE_DAYS", "10")
        site = site_settings_for(fake_store, INSTANCE, Settings(_env_file=None))  # type: ignore[call-arg]
        assert (site.auto_bootstrap, site.reward_expiring_notice_days) == (True, 10)

    def test_the_instance_s_own_values_win_field_by_field(self, fake_store) -> None:
        """Set fields are the site's; the others stay the environment's."""
        update_site_settings(
            fake_store, INSTANCE, patch(syncUrl="https://a.example.test/in", rewardExpiringNoticeDays=0)
        )
        site = site_settings_for(fake_store, INSTANCE, env())
        assert site.sync_url == "https://a.example.test/in"
        assert site.reward_expiring_notice_days == 0
        assert site.sync_secret is not None and site.sync_secret.get_secret_value() == ENV_SECRET
        assert site.sources == {
            "syncUrl": "site",
            "syncSecret": "default",
            "syncMatchBy": "default",
            "autoBootstrap": "default",
            "rewardExpiringNoticeDays": "site",
        }

    def test_one_instance_s_settings_are_not_another_s(self, fake_store) -> None:
        """Instance A's secret and matching do not reach instance B."""
        update_site_settings(fake_store, INSTANCE, patch(syncSecret=SITE_SECRET, syncMatchBy="contactId"))
        other = site_settings_for(fake_store, OTHER, env())
        assert other.sync_secret is not None and other.sync_secret.get_secret_value() == ENV_SECRET
        assert other.sync_match_by == "email"

    def test_null_clears_a_field_and_the_default_applies_again(self, fake_store) -> None:
        """PATCH semantics: null clears; a field left out is left as it is."""
        update_site_settings(
            fake_store, INSTANCE, patch(syncUrl="https://a.example.test/in", autoBootstrap=True)
        )
        update_site_settings(fake_store, INSTANCE, patch(syncUrl=None))
        site = site_settings_for(fake_store, INSTANCE, env())
        assert (site.sync_url, site.sources["syncUrl"]) == (ENV_URL, "default")
        assert (site.auto_bootstrap, site.sources["autoBootstrap"]) == (True, "site")

    def test_outbound_sync_needs_a_url_and_a_secret_from_either_side(self, fake_store) -> None:
        """The environment's URL with the site's secret is on; no secret anywhere is off."""
        no_secret = env(external_sync_secret=None)
        assert site_settings_for(fake_store, INSTANCE, no_secret).outbound_sync_url is None
        update_site_settings(fake_store, INSTANCE, patch(syncSecret=SITE_SECRET))
        assert site_settings_for(fake_store, INSTANCE, no_secret).outbound_sync_url == ENV_URL
        assert site_settings_for(fake_store, OTHER, no_secret).outbound_sync_url is None

    def test_an_empty_environment_secret_counts_as_unset(self) -> None:
        """EXTERNAL_SYNC_SECRET= (empty) is no secret."""
        assert default_site_settings(env(external_sync_secret="")).sync_secret is None

    def test_a_stored_value_that_no_longer_validates_falls_back(self, fake_store, caplog) -> None:
        """A hand-edited bad value is left out with a warning naming the field, never its value."""
        fake_store.hset(keys.site_settings(INSTANCE), "syncSecret", json.dumps("whsec_not base64!"))
        fake_store.hset(keys.site_settings(INSTANCE), "rewardExpiringNoticeDays", "-4")
        with caplog.at_level("DEBUG"):
            assert stored_site_settings(fake_store, INSTANCE) == {}
        assert "not base64" not in caplog.text
        assert {record.setting for record in caplog.records} == {"syncSecret", "rewardExpiringNoticeDays"}  # type: ignore[attr-defined]


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "path"),
        [
            ({"syncUrl": "ftp://files.example.test/x"}, "syncUrl"),
            ({"syncUrl": "https://"}, "syncUrl"),
            ({"syncUrl": "https://user:pass@example.test/"}, "syncUrl"),
            ({"syncUrl": "https://example.test/a b"}, "syncUrl"),
            ({"syncUrl": "https://example.test/" + "x" * 2000}, "syncUrl"),
            ({"syncSecret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "syncSecret"),  # no whsec_
            ({"syncSecret": "whsec_!!!!"}, "syncSecret"),
            ({"syncSecret": "whsec_c2hvcnQ="}, "syncSecret"),  # 5 bytes
            ({"syncSecret": "whsec_" + "A" * 400}, "syncSecret"),
            ({"syncMatchBy": "phone"}, "syncMatchBy"),
            ({"autoBootstrap": "yes"}, "autoBootstrap"),
            ({"autoBootstrap": 1}, "autoBootstrap"),
            ({"rewardExpiringNoticeDays": -1}, "rewardExpiringNoticeDays"),
            ({"rewardExpiringNoticeDays": "3"}, "rewardExpiringNoticeDays"),
            ({"rewardExpiringNoticeDays": 2.5}, "rewardExpiringNoticeDays"),
            ({"rewardExpiringNoticeDays": True}, "rewardExpiringNoticeDays"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    def test_a_bad_value_is_refused_with_its_field(self, fields, path) -> None:
        """Each refusal names the field."""
        with pytest.raises(ValidationError) as refused:
            patch(**fields)
        assert [error["loc"] for error in refused.value.errors()] == [(path,)]

    def test_a_refused_secret_is_not_quoted_back(self) -> None:
        """Neither the message nor the exception's text holds the secret."""
        secret = "whsec_c2hvcnQtYnV0LXNlY3JldA"  # 17 bytes: too short
        with pytest.raises(ValidationError) as refused:
            patch(syncSecret=secret)
        assert "c2hvcnQtYnV0LXNlY3JldA" not in str(refused.value)
        assert "24 to 64 bytes" in refused.value.errors()[0]["msg"]

    def test_good_values_pass(self) -> None:
        """An https URL with a port and query, unpadded base64 after whsec_, zero days."""
        fields = patch(
            syncUrl="http://127.0.0.1:8080/hooks?x=1",
            syncSecret=SITE_SECRET.rstrip("="),
            syncMatchBy="contactId",
            autoBootstrap=False,
            rewardExpiringNoticeDays=0,
        )
        assert fields.changes()["syncSecret"] == SITE_SECRET.rstrip("=")

    def test_a_bad_value_writes_nothing(self, fake_store) -> None:
        """A change with one bad field is refused whole: the good field beside it is not stored."""
        with pytest.raises(ValidationError):
            update_site_settings(
                fake_store, INSTANCE, patch(syncUrl="https://ok.example.test/", rewardExpiringNoticeDays=-1)
            )
        assert fake_store.keys("*") == []

    def test_an_instance_id_outside_the_rule_names_no_key(self, fake_store) -> None:
        """`a}b` cannot be an instance's settings key."""
        with pytest.raises(InvalidIdentifier):
            update_site_settings(fake_store, "a}b", patch(autoBootstrap=True))
        assert fake_store.keys("*") == []


class TestSecretIndex:
    def test_the_index_follows_the_instances_that_have_a_secret(self, fake_store) -> None:
        """Set adds the instance, clearing removes it; other fields leave it alone."""
        assert not any_site_sync_secret(fake_store)
        update_site_settings(fake_store, INSTANCE, patch(syncSecret=SITE_SECRET))
        update_site_settings(fake_store, INSTANCE, patch(autoBootstrap=True))
        assert any_site_sync_secret(fake_store)
        update_site_settings(fake_store, INSTANCE, patch(syncSecret=None))
        assert not any_site_sync_secret(fake_store)


class TestMasking:
    def test_the_secret_is_shown_by_its_last_four_characters(self) -> None:
        """Enough to tell two secrets apart, not to use one."""
        assert mask(SecretStr(ENV_SECRET)) == "whsec_****LaSw"
        assert mask(None) is None

    def test_a_short_secret_shows_nothing_of_itself(self) -> None:
        """A secret under 24 characters after its prefix is shown as the prefix alone."""
        assert mask(SecretStr("whsec_c2hvcnQ=")) == "whsec_****"

    def test_the_description_holds_no_secret(self, fake_store) -> None:
        """Neither the site's secret nor the environment's appears in what GET and the CLI show."""
        update_site_settings(fake_store, INSTANCE, patch(syncSecret=SITE_SECRET))
        shown = json.dumps(describe(site_settings_for(fake_store, INSTANCE, env())))
        other = json.dumps(describe(site_settings_for(fake_store, OTHER, env())))
        for secret in (SITE_SECRET, ENV_SECRET):
            body = secret.removeprefix("whsec_").rstrip("=")
            assert body not in shown and body not in other
        assert json.loads(shown)["settings"]["syncSecret"] == {"value": "whsec_****IQ==", "source": "site"}

    def test_the_resolved_settings_do_not_show_the_secret_in_a_repr(self, fake_store) -> None:
        """A log line or traceback that prints the settings shows `**********`."""
        site = site_settings_for(fake_store, INSTANCE, env())
        assert ENV_SECRET not in repr(site)
        assert ENV_SECRET not in repr(patch(syncSecret=ENV_SECRET))
