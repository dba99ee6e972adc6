"""No admin path writes state, ledger, check-ins, ownership or inventory: staff
may look at them, never add, change or delete them."""

import pytest
from django.urls import reverse

from checkins.models import CheckIn
from checkins.tests.factories import CheckInFactory
from engagement.models import LedgerEntry, UserState
from engagement.tests.factories import LedgerEntryFactory, UserStateFactory
from rewards.models import InventoryItem, UserReward
from rewards.tests.factories import InventoryItemFactory, UserRewardFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ_ONLY = {
    "engagement_userstate": (UserStateFactory, UserState),
    "engagement_ledgerentry": (LedgerEntryFactory, LedgerEntry),
    "checkins_checkin": (CheckInFactory, CheckIn),
    "rewards_userreward": (UserRewardFactory, UserReward),
    "rewards_inventoryitem": (InventoryItemFactory, InventoryItem),
}


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def snapshot(model) -> list:
    return list(model.objects.order_by("pk").values())


@pytest.mark.parametrize("name", READ_ONLY)
def test_even_a_superuser_cannot_add_change_or_delete(staff_client, name):
    factory, model = READ_ONLY[name]
    obj = factory()
    before = snapshot(model)
    change_url = reverse(f"admin:{name}_change", args=[obj.pk])

    assert staff_client.get(reverse(f"admin:{name}_add")).status_code == 403
    assert staff_client.post(reverse(f"admin:{name}_add"), {}).status_code == 403
    assert staff_client.post(change_url, {"loyalty": 1000, "streak": 99}).status_code == 403
    assert staff_client.get(reverse(f"admin:{name}_delete", args=[obj.pk])).status_code == 403
    assert staff_client.post(reverse(f"admin:{name}_delete", args=[obj.pk])).status_code == 403
    bulk_delete = staff_client.post(
        reverse(f"admin:{name}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert bulk_delete.status_code in (200, 302)

    assert snapshot(model) == before


@pytest.mark.parametrize("name", READ_ONLY)
def test_the_rows_are_visible_read_only(staff_client, name):
    factory, _model = READ_ONLY[name]
    obj = factory()

    changelist = staff_client.get(reverse(f"admin:{name}_changelist")).content.decode()
    page = staff_client.get(reverse(f"admin:{name}_change", args=[obj.pk]))

    assert reverse(f"admin:{name}_add") not in changelist
    assert "delete_selected" not in changelist
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
