"""The erasure's rules and its audit row; the export's shape."""

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from engagement.errors import AccountUnavailable
from engagement.models import UserState
from privacy.errors import InvalidErasureReason, ReasonNamesTheAccount
from privacy.models import Erasure
from privacy.services import (
    erasure_recorded,
    export_document,
    me_erase,
    subject_hash,
    user_erase,
    user_export,
)
from users.errors import InvalidCredentials
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def audit_text(erasure: Erasure) -> str:
    """Everything the audit row holds, as text."""
    row = Erasure.objects.filter(pk=erasure.pk).values().get()
    return json.dumps(row, default=str).casefold()


class TestAuditRow:
    def test_keeps_only_a_keyed_hash_of_the_id_the_time_and_the_reason(self, ann):
        user_id, email = ann.pk, ann.email

        result = user_erase(user_id=user_id, now=NOW, reason="Erasure request, ticket 4711")

        erasure = Erasure.objects.get()
        assert erasure.pk == result.erasure_id
        assert (erasure.erased_at, erasure.source, erasure.reason) == (
            NOW,
            Erasure.Source.STAFF,
            "Erasure request, ticket 4711",
        )
        assert erasure.subject == subject_hash(user_id)
        text = audit_text(erasure)
        for personal in (email, str(user_id), user_id.hex, "ann"):
            assert personal.casefold() not in text

    def test_the_hash_is_keyed_not_a_plain_digest_of_the_id(self, settings):
        user_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
        import hashlib

        assert subject_hash(user_id) != hashlib.sha256(str(user_id).encode()).hexdigest()
        assert subject_hash(user_id) != subject_hash(user_id, secret="another key")
        assert len(subject_hash(user_id)) == 64

    def test_an_erased_id_is_recognised_after_a_key_rotation(self, ann, settings):
        user_id = ann.pk
        user_erase(user_id=user_id, now=NOW, reason=None)
        old_key = settings.SECRET_KEY

        settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
        settings.SECRET_KEY_FALLBACKS = [old_key]
        assert erasure_recorded(user_id=user_id)
        assert not erasure_recorded(user_id=uuid.uuid4())
        settings.SECRET_KEY_FALLBACKS = []
        assert not erasure_recorded(user_id=user_id)

    def test_a_self_service_erasure_has_no_reason(self, ann):
        me_erase(user_id=ann.pk, password=TEST_PASSWORD, now=NOW)

        erasure = Erasure.objects.get()
        assert (erasure.source, erasure.reason) == (Erasure.Source.SELF, "")


class TestStaffReason:
    @pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
    def test_is_required_and_bounded(self, ann, reason):
        with pytest.raises(InvalidErasureReason):
            user_erase(user_id=ann.pk, now=NOW, reason=reason)

        assert User.objects.filter(pk=ann.pk).exists()
        assert not Erasure.objects.exists()

    @pytest.mark.parametrize("mark", ["email", "id", "hex"])
    def test_may_not_name_the_account(self, ann, mark):
        named = {"email": "ANN@example.com", "id": str(ann.pk), "hex": ann.pk.hex}[mark]

        with pytest.raises(ReasonNamesTheAccount):
            user_erase(user_id=ann.pk, now=NOW, reason=f"asked by {named}")

        assert User.objects.filter(pk=ann.pk).exists()
        assert UserState.objects.filter(user_id=ann.pk).exists()
        assert not Erasure.objects.exists()


class TestWhoCanBeErased:
    def test_a_deactivated_account(self):
        user = UserFactory(is_active=False)
        UserState.objects.create(user=user)

        user_erase(user_id=user.pk, now=NOW, reason="Deactivated in March, erasure due")

        assert not User.objects.filter(pk=user.pk).exists()
        assert not UserState.objects.exists()

    def test_an_account_without_a_state_row(self):
        user = UserFactory()  # created by staff: no state yet

        result = user_erase(user_id=user.pk, now=NOW, reason=None)

        assert not User.objects.exists()
        assert not UserState.objects.exists()
        assert result.rows["users.User"] == 1

    def test_an_account_that_is_gone(self):
        with pytest.raises(AccountUnavailable):
            user_erase(user_id=uuid.uuid4(), now=NOW, reason=None)

        assert not Erasure.objects.exists()


class TestMeErase:
    def test_a_wrong_password_erases_nothing_and_writes_nothing(self, ann):
        before = user_export(user_id=ann.pk, now=NOW)
        password_hash = ann.password

        with pytest.raises(InvalidCredentials):
            me_erase(user_id=ann.pk, password="not the password", now=NOW)

        assert user_export(user_id=ann.pk, now=NOW) == before
        assert User.objects.get(pk=ann.pk).password == password_hash
        assert not Erasure.objects.exists()

    def test_a_deactivated_account_cannot_erase_itself(self):
        user = UserFactory(is_active=False)

        with pytest.raises(AccountUnavailable):
            me_erase(user_id=user.pk, password=TEST_PASSWORD, now=NOW)

        assert User.objects.filter(pk=user.pk).exists()


class TestExport:
    def test_the_document_is_json_with_every_section(self, ann):
        data = user_export(user_id=ann.pk, now=NOW)

        document = json.loads(export_document(data))

        assert document["format_version"] == 1
        assert document["exported_at"] == "2026-03-10T12:00:00Z"
        assert document["user"]["email"] == "ann@example.com"
        assert "password" not in document["user"]
        assert document["state"]["total_checkins"] == 3
        assert [c["streak"] for c in document["checkins"]] == [1, 2, 3]
        assert document["groups"] == [{"name": "support"}]
        assert document["permissions"] == [{"app_label": "users", "codename": "view_user"}]
        assert [(e["app_label"], e["model"], e["action_flag"]) for e in document["admin_log"]] == [
            ("auth", "group", 2)
        ]
        assert set(document["idempotency_keys"][0]) == {"key", "status_code", "created_at"}

    def test_an_unknown_or_deactivated_account_has_no_export(self):
        inactive = UserFactory(is_active=False)

        with pytest.raises(AccountUnavailable):
            user_export(user_id=uuid.uuid4(), now=timezone.now())
        with pytest.raises(AccountUnavailable):
            user_export(user_id=inactive.pk, now=timezone.now(), active_only=True)
        assert user_export(user_id=inactive.pk, now=timezone.now())["user"]["is_active"] is False


class TestReapplyAfterARestore:
    def test_erases_again_what_a_restored_backup_brought_back(self, ann, bystander, capsys):
        from django.core import serializers
        from django.core.management import call_command

        backup = serializers.serialize("json", [User.objects.get(pk=ann.pk)])
        user_erase(user_id=ann.pk, now=NOW, reason=None)
        for restored in serializers.deserialize("json", backup):  # the restore
            restored.save()
        assert User.objects.filter(pk=ann.pk).exists()

        call_command("reapply_erasures", "--dry-run", "--batch-size", "1")
        call_command("reapply_erasures", "--batch-size", "1")
        call_command("reapply_erasures")

        assert capsys.readouterr().out.splitlines() == [
            "1 erased account is present again; none erased.",
            "Erased 1 account again (1 found).",
            "Erased 0 accounts again (0 found).",
        ]
        assert not User.objects.filter(pk=ann.pk).exists()
        assert User.objects.filter(pk=bystander.pk).exists()
        assert list(Erasure.objects.order_by("id").values_list("source", "reason")) == [
            ("self", ""),
            ("staff", "Re-applied after a restore from a backup"),
        ]
