"""The staff erasure on the user list: a required reason, the same erasure as
DELETE /me, an audit row without personal data, and Django's delete off."""

import json

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from privacy.models import Erasure
from privacy.sections import user_relations
from privacy.services import subject_hash
from privacy.tests.conftest import fill
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:users_user_changelist"


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True, email="staff@example.com")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def erase(client, users, data: dict | None = None):
    """Post the action as the changelist does; with ``data``, post its form back."""
    ids = [str(u.pk) for u in users]
    body = {"action": "erase_users", "_selected_action": ids, "index": 0}
    if data is not None:
        body = {**body, "apply": "1", **{f"erase-{k}": v for k, v in data.items()}}
    return client.post(reverse(CHANGELIST), body)


def rows_of(user_id) -> int:
    return sum(
        model._base_manager.filter(**{field.attname: user_id}).count()
        for model, field in user_relations()
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def test_asks_for_a_reason_and_a_confirmation_first(staff_client, staff):
    ann = fill(UserFactory(email="ann@example.com"), staff=staff)

    response = erase(staff_client, [ann])

    assert response.status_code == 200
    page = response.content.decode()
    assert "ann@example.com" in page
    assert 'name="erase-reason"' in page
    assert 'name="erase-confirm"' in page
    assert "keyed hash of the account" in page  # the erasure's own words
    assert 'id="erase-users-form"' in page
    assert User.objects.filter(pk=ann.pk).exists()


def test_with_a_reason_erases_every_row_and_leaves_an_audit_row(staff_client, staff):
    ann = fill(UserFactory(email="ann@example.com"), staff=staff)
    bob = fill(UserFactory(email="bob@example.com"), staff=staff)
    ann_id, bob_rows = ann.pk, rows_of(bob.pk)
    assert rows_of(ann_id) > 10

    response = erase(
        staff_client, [ann], {"reason": "Erasure request, ticket 4711", "confirm": "on"}
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk=ann_id).exists()
    assert rows_of(ann_id) == 0
    assert not LogEntry.objects.filter(object_id=str(ann_id)).exists()
    assert rows_of(bob.pk) == bob_rows
    erasure = Erasure.objects.get()
    assert (erasure.source, erasure.reason) == ("staff", "Erasure request, ticket 4711")
    assert erasure.subject == subject_hash(ann_id)
    stored = json.dumps(Erasure.objects.filter(pk=erasure.pk).values().get(), default=str)
    assert "ann@example.com" not in stored
    assert str(ann_id) not in stored
    assert ann_id.hex not in stored
    # Who erased: the admin history of the audit row.
    log = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(Erasure))
    assert (log.user_id, log.object_id, log.action_flag) == (staff.pk, str(erasure.pk), ADDITION)
    assert "ann" not in log.object_repr + log.change_message
    assert messages_of(response)[0].startswith("Erased 1 account (")


@pytest.mark.parametrize("reason", ["", "   "])
def test_without_a_reason_nothing_is_erased(staff_client, staff, reason):
    ann = fill(UserFactory(email="ann@example.com"), staff=staff)
    before = rows_of(ann.pk)

    response = erase(staff_client, [ann], {"reason": reason, "confirm": "on"})

    assert response.status_code == 200  # the form again, with its error
    assert "This field is required." in response.content.decode()
    assert User.objects.filter(pk=ann.pk).exists()
    assert rows_of(ann.pk) == before
    assert not Erasure.objects.exists()


def test_without_the_confirmation_nothing_is_erased(staff_client, user):
    response = erase(staff_client, [user], {"reason": "Erasure request"})

    assert response.status_code == 200
    assert User.objects.filter(pk=user.pk).exists()
    assert not Erasure.objects.exists()


def test_a_reason_naming_an_account_is_refused(staff_client):
    ann = UserFactory(email="ann@example.com")

    response = erase(
        staff_client, [ann], {"reason": "Ann@Example.com asked by mail", "confirm": "on"}
    )

    assert response.status_code == 200
    assert "The reason names an account" in response.content.decode()
    assert User.objects.filter(pk=ann.pk).exists()
    assert not Erasure.objects.exists()


def test_a_deactivated_account_can_be_erased(staff_client):
    ann = UserFactory(email="ann@example.com", is_active=False)

    erase(staff_client, [ann], {"reason": "Deactivated, erasure due", "confirm": "on"})

    assert not User.objects.filter(pk=ann.pk).exists()
    assert Erasure.objects.count() == 1


def test_ones_own_account_is_not_erased_here(staff_client, staff, user):
    response = erase(staff_client, [staff, user], {"reason": "Cleanup", "confirm": "on"})

    assert response.status_code == 302
    assert "cannot be erased here" in messages_of(response)[0]
    assert User.objects.filter(pk__in=[staff.pk, user.pk]).count() == 2


def test_needs_the_delete_user_permission(client, user):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(staff)

    assert "erase_users" not in client.get(reverse(CHANGELIST)).content.decode()
    erase(client, [user], {"reason": "Erasure request", "confirm": "on"})
    assert User.objects.filter(pk=user.pk).exists()

    staff.user_permissions.add(Permission.objects.get(codename="delete_user"))
    client.force_login(type(staff).objects.get(pk=staff.pk))  # fresh permission cache
    assert "erase_users" in client.get(reverse(CHANGELIST)).content.decode()
    erase(client, [user], {"reason": "Erasure request", "confirm": "on"})
    assert not User.objects.filter(pk=user.pk).exists()


def test_djangos_own_delete_is_off_for_users(staff_client, user):
    changelist = staff_client.get(reverse(CHANGELIST)).content.decode()
    delete_url = reverse("admin:users_user_delete", args=[user.pk])

    assert "delete_selected" not in changelist
    assert staff_client.get(delete_url).status_code == 403
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    staff_client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [str(user.pk)], "post": "yes"},
    )
    assert User.objects.filter(pk=user.pk).exists()


def test_erasures_are_listed_read_only(staff_client, user):
    erase(staff_client, [user], {"reason": "Erasure request", "confirm": "on"})
    erasure = Erasure.objects.get()

    changelist = staff_client.get(reverse("admin:privacy_erasure_changelist"))
    page = staff_client.get(reverse("admin:privacy_erasure_change", args=[erasure.pk]))

    assert changelist.status_code == page.status_code == 200
    assert "Erasure request" in changelist.content.decode()
    assert 'name="_save"' not in page.content.decode()
    delete_url = reverse("admin:privacy_erasure_delete", args=[erasure.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Erasure.objects.count() == 1
