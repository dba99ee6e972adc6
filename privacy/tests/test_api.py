"""GET /me/export and DELETE /me through HTTP."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from rest_framework.test import APIClient

from base.testing import assert_problem
from checkins.models import CheckIn
from engagement.models import LedgerEntry, UserState
from idempotency.models import IdempotencyKey
from privacy.models import Erasure
from privacy.sections import user_relations
from rewards.models import InventoryItem, UserReward
from users.models import User
from users.tests.factories import TEST_PASSWORD, client_for
from users.tokens import token_pair

pytestmark = pytest.mark.django_db

REGISTER_PASSWORD = "correct horse battery staple"


def rows_of(user_id) -> dict[str, int]:
    """Rows per model that point at the user (zero counts left out)."""
    return {
        model._meta.label: count
        for model, field in user_relations()
        if (count := model._base_manager.filter(**{field.attname: user_id}).count())
    }


def all_rows() -> dict[str, int]:
    models = (User, UserState, CheckIn, LedgerEntry, UserReward, InventoryItem, IdempotencyKey)
    return {m._meta.label: m._base_manager.count() for m in (*models, Erasure)}


def erase_me(client: APIClient, password: str = TEST_PASSWORD):
    return client.delete("/api/v1/me", {"password": password}, format="json")


class TestExport:
    def test_is_every_row_of_the_caller_as_export_user_writes_it(self, ann, bystander):
        response = client_for(ann).get("/api/v1/me/export")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        document = response.json()
        out = StringIO()
        call_command("export_user", ann.email, stdout=out, stderr=StringIO())
        command = json.loads(out.getvalue())
        assert set(document) == set(command)
        del document["exported_at"], command["exported_at"]
        assert document == command
        assert document["user"]["id"] == str(ann.pk)
        assert len(document["checkins"]) == CheckIn.objects.filter(user=ann).count() == 3
        assert len(document["ledger"]) == LedgerEntry.objects.filter(user=ann).count() == 4
        assert len(document["rewards"]) == 1
        assert len(document["inventory"]) == 1
        assert len(document["idempotency_keys"]) == 1
        assert bystander.email not in response.content.decode()

    def test_needs_a_token(self, api_client, ann):
        assert_problem(api_client.get("/api/v1/me/export"), 401, "not_authenticated")

    def test_with_a_revoked_token_is_401(self, ann):
        client = client_for(ann)
        User.objects.filter(pk=ann.pk).update(token_version=F("token_version") + 1)

        assert_problem(client.get("/api/v1/me/export"), 401, "token_revoked")

    def test_of_a_deactivated_account_is_401(self, ann):
        client = client_for(ann)
        User.objects.filter(pk=ann.pk).update(is_active=False)

        assert_problem(client.get("/api/v1/me/export"), 401, "account_unavailable")


class TestDeleteMe:
    def test_erases_the_account_and_every_row_about_it(self, ann, bystander):
        bystander_rows = rows_of(bystander.pk)
        assert rows_of(ann.pk)["checkins.CheckIn"] == 3

        response = erase_me(client_for(ann))

        assert response.status_code == 204
        assert response.content == b""
        assert rows_of(ann.pk) == {}
        assert not User.objects.filter(pk=ann.pk).exists()
        assert rows_of(bystander.pk) == bystander_rows
        erasure = Erasure.objects.get()
        assert (erasure.source, erasure.reason) == ("self", "")

    def test_a_wrong_password_is_401_and_writes_nothing(self, ann):
        client = client_for(ann)
        before, mine = all_rows(), rows_of(ann.pk)

        response = erase_me(client, password="not my password")

        assert_problem(response, 403, "wrong_password")
        assert all_rows() == before
        assert rows_of(ann.pk) == mine

    @pytest.mark.parametrize(
        "body", [{}, {"password": 5}, {"password": "x", "reason": "bye"}, ["password"]]
    )
    def test_a_malformed_body_is_400_and_writes_nothing(self, ann, body):
        before = all_rows()

        response = client_for(ann).delete("/api/v1/me", body, format="json")

        assert response.status_code == 400
        assert all_rows() == before

    def test_wrong_passwords_count_against_the_failed_login_limit(self, ann, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "login_ip": "2/min",
            },
        }
        client = client_for(ann)
        for _ in range(2):
            assert_problem(erase_me(client, "wrong"), 403, "wrong_password")

        assert erase_me(client, "wrong").status_code == 429
        assert User.objects.filter(pk=ann.pk).exists()

    def test_the_tokens_die_with_the_account(self, ann):
        tokens = token_pair(ann)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert erase_me(client).status_code == 204

        gone = [
            client.get("/api/v1/me"),
            client.patch("/api/v1/me", {"display_name": "Zombie"}, format="json"),
            client.get("/api/v1/me/export"),
            erase_me(client),
            client.post("/api/v1/checkins"),
            client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="after-erase"),
            client.post("/api/v1/inventory/x/buy"),
            client.post("/api/v1/rewards/x/claim"),
            APIClient().post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json"),
        ]
        for response in gone:
            assert_problem(response, 401, "account_unavailable")
        # Reads of one's own history take no query of the account (the access
        # token is trusted until it expires): nothing is left to read, and
        # nothing answers 500.
        history = {
            "/api/v1/checkins": lambda body: body["results"],
            "/api/v1/ledger": lambda body: body["results"],
            "/api/v1/inventory": lambda body: body["items"],
            # the catalog, with nothing owned any more
            "/api/v1/rewards": lambda body: [r for r in body if r["status"] != "locked"],
        }
        for path, owned in history.items():
            response = client.get(path)
            assert response.status_code in (200, 401), (path, response.status_code)
            if response.status_code == 200:
                assert owned(response.json()) == [], path
        assert rows_of(ann.pk) == {}
        assert not IdempotencyKey.objects.filter(key="after-erase").exists()

    def test_the_e_mail_can_register_again(self, ann):
        old_id = ann.pk
        assert erase_me(client_for(ann)).status_code == 204

        response = APIClient().post(
            "/api/v1/auth/register",
            {"email": "Ann@Example.com", "password": REGISTER_PASSWORD},
            format="json",
        )

        assert response.status_code == 201
        fresh = User.objects.get(email="ann@example.com")
        assert fresh.pk != old_id
        assert fresh.state.total_checkins == 0
        assert set(rows_of(fresh.pk)) <= {
            "engagement.UserState",
            "token_blacklist.OutstandingToken",
        }

    def test_an_idempotency_key_does_not_replay_an_erasure_body(self, ann):
        # DELETE is not a keyed method: a key is ignored, nothing is stored.
        response = client_for(ann).delete(
            "/api/v1/me", {"password": TEST_PASSWORD}, format="json", HTTP_IDEMPOTENCY_KEY="d"
        )

        assert response.status_code == 204
        assert not IdempotencyKey.objects.filter(key="d").exists()


def test_the_openapi_document_has_one_me_path_with_three_operations(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    me = schema["paths"]["/api/v1/me"]
    assert {method for method in me if method in {"get", "patch", "delete", "put", "post"}} == {
        "get",
        "patch",
        "delete",
    }
    delete = me["delete"]
    assert delete["operationId"] == "me_delete"
    body = delete["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema["components"]["schemas"][body.rsplit("/", 1)[1]]["required"] == ["password"]
    assert {"204", "400", "401", "429"} <= set(delete["responses"])
    export = schema["paths"]["/api/v1/me/export"]["get"]
    assert export["operationId"] == "me_export"
    assert {"200", "401", "429"} <= set(export["responses"])
