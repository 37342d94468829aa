"""Cron schedules through the REST API: added, listed with their last and next runs, removed; refused when malformed,
over the quota, from app.json, or on an app the caller cannot see; and documented in the OpenAPI schema."""

from datetime import UTC, datetime

from apps.models import Event, EventAction
from apps.services import access_add
from scheduler.cron import CronEntry, cron_app_json_sync, crons_run_due
from scheduler.models import CronSchedule
from scheduler.services import reconcile
from tests.api.conftest import client_for
from tests.api.resources import AppResourceTests
from tests.factories import UserFactory, deploy, make_app

CLEARSESSIONS = {"schedule": "*/5 * * * *", "command": "python manage.py clearsessions"}


class TestCron(AppResourceTests):
    path = "cron/"

    def test_a_schedule_is_added_listed_with_its_next_run_and_removed(self, api, user):
        app = make_app("shop", owner=user)
        added = api.post(self.url("shop"), CLEARSESSIONS, format="json")
        assert added.status_code == 201, added.json()
        body = added.json()
        assert {key: body[key] for key in ("schedule", "command", "source", "last_run", "last_exit_code")} == {
            **CLEARSESSIONS,
            "source": "cli",
            "last_run": None,
            "last_exit_code": None,
        }
        next_run = datetime.fromisoformat(body["next_run_at"].replace("Z", "+00:00"))
        assert next_run.minute % 5 == 0 and next_run.second == 0 and next_run.tzinfo is not None
        assert [entry["id"] for entry in api.get(self.url("shop")).json()] == [body["id"]]
        assert api.delete(f"{self.url('shop')}{body['id']}/").status_code == 204
        gone = api.delete(f"{self.url('shop')}{body['id']}/")
        assert gone.status_code == 404 and "shop has no cron schedule" in gone.json()["error"]
        assert api.get(self.url("shop")).json() == []
        actions = list(Event.objects.filter(app=app).values_list("action", flat=True))
        assert actions.count(EventAction.CRON_ADD) == 1 and actions.count(EventAction.CRON_REMOVE) == 1

    def test_the_list_shows_the_last_runs_job_state_and_exit_code(self, api, user, driver):
        app = make_app("shop", owner=user)
        deploy(app)
        reconcile()
        cron_id = api.post(self.url("shop"), CLEARSESSIONS, format="json").json()["id"]
        CronSchedule.objects.filter(pk=cron_id).update(next_run_at=datetime(2026, 11, 26, 12, 15, tzinfo=UTC))
        crons_run_due(now=datetime(2026, 11, 26, 12, 15, 5, tzinfo=UTC))
        [running] = api.get(self.url("shop")).json()
        assert (running["last_run"], running["last_state"], running["last_exit_code"]) == ("run.1", "up", None)
        assert running["last_run_at"] == "2026-11-26T12:15:05Z" and running["next_run_at"] == "2026-11-26T12:20:00Z"
        driver.exit(CronSchedule.objects.get().last_job.container_id, 2)
        reconcile()
        [ended] = api.get(self.url("shop")).json()
        assert (ended["last_run"], ended["last_state"], ended["last_exit_code"]) == ("run.1", "stopped", 2)

    def test_a_malformed_schedule_or_command_is_400_saying_what_is_wrong(self, api, user):
        make_app("shop", owner=user)
        for body, said in (
            ({"schedule": "*/5 * * *", "command": "x"}, "a schedule has five fields"),
            ({"schedule": "61 * * * *", "command": "x"}, "minute 61 is out of range (0-59)"),
            ({"schedule": "*/0 * * * *", "command": "x"}, "a minute step is at least 1"),
            ({"schedule": "0 0 30 2 *", "command": "x"}, "never comes"),
            ({"schedule": "@daily", "command": "   "}, "command: This field may not be blank"),
            ({"schedule": "@daily", "command": "x" * 2001}, "command: Ensure this field has no more than 2000"),
            ({"command": "x"}, "schedule: This field is required"),
        ):
            refused = api.post(self.url("shop"), body, format="json")
            assert refused.status_code == 400 and said in refused.json()["error"], refused.json()
        example = api.post(self.url("shop"), {"schedule": "x", "command": "y"}, format="json").json()["error"]
        assert 'e.g. "*/5 * * * *" (every 5 minutes)' in example
        assert not CronSchedule.objects.exists()

    def test_schedules_have_a_quota_per_app_naming_its_setting(self, api, user, settings):
        make_app("shop", owner=user)
        settings.PAAS_QUOTA_CRONS = 1
        assert api.post(self.url("shop"), CLEARSESSIONS, format="json").status_code == 201
        over = api.post(self.url("shop"), {**CLEARSESSIONS, "command": "python report.py"}, format="json")
        assert over.status_code == 409 and "PAAS_QUOTA_CRONS" in over.json()["error"]

    def test_an_app_json_schedule_is_listed_but_removed_only_from_app_json(self, api, user):
        app = make_app("shop", owner=user)
        cron_app_json_sync(app=app, entries=[CronEntry("@daily", "python report.py")], actor=user)
        [listed] = api.get(self.url("shop")).json()
        assert (listed["source"], listed["schedule"], listed["command"]) == ("app.json", "@daily", "python report.py")
        refused = api.delete(f"{self.url('shop')}{listed['id']}/")
        assert refused.status_code == 409 and "comes from app.json: remove its entry there" in refused.json()["error"]
        assert CronSchedule.objects.count() == 1

    def test_collaborators_manage_schedules_and_other_users_cannot_see_them(self, api, user):
        app = make_app("shop", owner=user)
        bob = UserFactory(username="bob")
        access_add(app=app, username="bob", actor=user)
        assert client_for(bob).post(self.url("shop"), CLEARSESSIONS, format="json").status_code == 201
        cron_id = CronSchedule.objects.get().pk
        mallory = client_for(UserFactory(username="mallory"))
        for response in (
            mallory.get(self.url("shop")),
            mallory.post(self.url("shop"), CLEARSESSIONS, format="json"),
            mallory.delete(f"{self.url('shop')}{cron_id}/"),
        ):
            assert response.status_code == 404 and "app 'shop' not found" in response.json()["error"]
        assert CronSchedule.objects.count() == 1
        assert api.delete(f"{self.url('shop')}{cron_id}/").status_code == 204

    def test_the_schema_documents_the_cron_endpoints(self, api):
        document = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        assert set(document["paths"]["/api/apps/{name}/cron/"]) == {"get", "post"}
        assert set(document["paths"]["/api/apps/{name}/cron/{cron_id}/"]) == {"delete"}
        listed = document["components"]["schemas"]["CronSchedule"]["properties"]
        assert {"next_run_at", "last_run_at", "last_run", "last_exit_code", "last_state"} <= set(listed)
