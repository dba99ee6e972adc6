"""The user admin: state read-only, bounded history inlines, and state changes
only through the grant actions (with a reason, through the services)."""

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.admin_actions import MAX_USERS_PER_ACTION
from checkins.tests.factories import CheckInFactory
from engagement.models import LedgerEntry, UserState
from engagement.tests.factories import LedgerEntryFactory
from rewards.models import InventoryItem
from rewards.services import loyalty_grant
from rewards.tests.factories import InventoryItemFactory, ToolFactory, checkin_days, state_of
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:users_user_changelist"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, email="staff@example.com"))
    return client


def run_action(client, action: str, users, data: dict | None = None):
    """Post an action as the changelist does; with ``data``, post its form back."""
    url = reverse(CHANGELIST)
    ids = [str(u.pk) for u in users]
    if data is None:
        return client.post(url, {"action": action, "_selected_action": ids, "index": 0})
    form = {f"grant-{key}": value for key, value in data.items()}
    return client.post(url, {"action": action, "_selected_action": ids, "apply": "1", **form})


def ledger_of(user):
    return list(
        LedgerEntry.objects.filter(user_id=user.pk)
        .order_by("id")
        .values_list("kind", "ref", "loyalty", "reason")
    )


# --- Grant actions -------------------------------------------------------------------
def test_grant_loyalty_asks_for_amount_and_reason_first(staff_client, user):
    response = run_action(staff_client, "grant_loyalty", [user])

    assert response.status_code == 200
    page = response.content.decode()
    assert user.email in page
    assert 'name="grant-amount"' in page
    assert 'name="grant-reason"' in page
    assert not LedgerEntry.objects.exists()


def test_the_adjust_form_shows_current_values_and_signed_changes(staff_client):
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    checkin_days(ann, 3)  # energy, fatigue and loyalty of three check-ins
    ann_state = state_of(ann)

    with CaptureQueriesContext(connection) as captured:
        response = run_action(staff_client, "adjust_state", [ann, bob])

    page = response.content.decode()
    table = page.split('id="current-values"')[1].split("</table>")[0]
    assert "Current values (before the change)" in table
    row = table.split("ann@example.com")[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == [
        str(ann_state.level),
        str(ann_state.energy),
        str(ann_state.fatigue),
        str(ann_state.loyalty),
        str(ann_state.streak_freezes),
    ]
    assert "bob@example.com" in table  # no state yet: dashes
    # The deltas are labelled as signed changes and start empty, not at zero.
    deltas = (("energy", "Energy"), ("loyalty", "Loyalty"), ("freezes", "Streak freezes"))
    for name, label in deltas:
        assert f"{label} change (±)" in page
        field = page.split(f'name="grant-{name}"')[0].rsplit("<input", 1)[1]
        assert "value=" not in field
    assert 'placeholder="±0"' in page
    assert "Signed: +5 adds 5, -5 takes 5 away" in page
    # The users and their states in one query, whatever their number.
    selects = [q["sql"] for q in captured if 'FROM "users_user"' in q["sql"]]
    assert len([q for q in selects if "engagement_userstate" in q]) == 1


@pytest.mark.parametrize(
    ("action", "label", "column"),
    [
        ("grant_loyalty", "Loyalty to add", "loyalty"),
        ("grant_freezes", "Freezes to add", "streak freezes"),
        ("grant_tool", "Quantity to add", "different tools held"),
        ("restore_streak", None, "lost streak"),
    ],
)
def test_grant_forms_show_the_current_values(staff_client, action, label, column):
    ann = UserFactory(email="ann@example.com")
    checkin_days(ann, 2)
    InventoryItemFactory(user=ann, tool=ToolFactory(), quantity=3)
    InventoryItemFactory(user=ann, tool=ToolFactory(), quantity=0)  # used up: not held

    page = run_action(staff_client, action, [ann]).content.decode()

    table = page.split('id="current-values"')[1].split("</table>")[0]
    assert f'<th scope="col" class="num">{column}</th>' in table
    if label:
        assert label in page
    if action == "grant_loyalty":
        assert f'<td class="num">{state_of(ann).loyalty}</td>' in table
    if action == "grant_tool":
        assert '<td class="num">1</td>' in table


def test_grant_loyalty_goes_through_the_service_into_the_ledger(staff_client):
    ann, bob = UserFactory(email="ann@example.com"), UserFactory(email="bob@example.com")
    checkin_days(bob, 1)

    response = run_action(
        staff_client, "grant_loyalty", [ann, bob], {"amount": 40, "reason": "Outage on May 3"}
    )

    assert response.status_code == 302
    assert state_of(ann).loyalty == 40
    assert state_of(bob).loyalty == 45
    assert ledger_of(ann) == [("admin_grant", "loyalty", 40, "Outage on May 3")]
    assert ledger_of(bob)[-1] == ("admin_grant", "loyalty", 40, "Outage on May 3")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [
        "Grant loyalty — done for 2: ann@example.com (loyalty +40); bob@example.com (loyalty +40)."
    ]
    log = LogEntry.objects.get(object_id=str(ann.pk))
    assert log.user.email == "staff@example.com"
    assert log.change_message == "Grant loyalty: loyalty +40. Reason: Outage on May 3"


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_is_refused_and_nothing_is_written(staff_client, user, reason):
    response = run_action(staff_client, "grant_loyalty", [user], {"amount": 40, "reason": reason})

    assert response.status_code == 200  # the form again, with its error
    assert "This field is required." in response.content.decode()
    assert not LedgerEntry.objects.exists()
    assert not UserState.objects.filter(loyalty__gt=0).exists()
    assert not LogEntry.objects.exists()


def test_invalid_amounts_are_refused_and_nothing_is_written(staff_client, user):
    for amount in ("0", "-5", "abc", ""):
        response = run_action(
            staff_client, "grant_loyalty", [user], {"amount": amount, "reason": "r"}
        )
        assert response.status_code == 200
    assert not LedgerEntry.objects.exists()


def test_grant_tool_and_freezes_and_adjust(staff_client, user):
    ToolFactory(id="coffee", name="Coffee")

    run_action(staff_client, "grant_tool", [user], {"tool": "coffee", "quantity": 2, "reason": "a"})
    run_action(staff_client, "grant_freezes", [user], {"count": 1, "reason": "b"})
    run_action(
        staff_client,
        "adjust_state",
        [user],
        {"energy": "-10", "fatigue": "", "loyalty": "7", "freezes": "0", "reason": "c"},
    )

    assert InventoryItem.objects.get(user_id=user.pk, tool_id="coffee").quantity == 2
    state = state_of(user)
    assert (state.energy, state.loyalty, state.streak_freezes) == (40, 7, 1)
    assert [(kind, ref, reason) for kind, ref, _, reason in ledger_of(user)] == [
        ("admin_grant", "tool:coffee x2", "a"),
        ("admin_grant", "streak_freezes", "b"),
        ("admin_adjust", "adjust", "c"),
    ]


def test_an_adjustment_without_deltas_is_refused(staff_client, user):
    response = run_action(
        staff_client,
        "adjust_state",
        [user],
        {"energy": "0", "fatigue": "", "loyalty": "", "freezes": "", "reason": "r"},
    )

    assert response.status_code == 200
    assert "Give at least one non-zero delta." in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_users_the_service_refuses_are_reported_and_unchanged(staff_client, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "INVENTORY_CAPACITY": 1}
    full, free = UserFactory(email="full@example.com"), UserFactory(email="free@example.com")
    InventoryItemFactory(user=full)
    ToolFactory(id="coffee")

    response = run_action(
        staff_client, "grant_tool", [full, free], {"tool": "coffee", "quantity": 1, "reason": "r"}
    )

    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages[1].startswith("Grant a tool — refused, nothing changed for 1: full@example.com")
    assert not InventoryItem.objects.filter(user=full, tool_id="coffee").exists()
    assert not LedgerEntry.objects.filter(user_id=full.pk).exists()
    assert InventoryItem.objects.get(user=free, tool_id="coffee").quantity == 1


def test_too_many_users_at_once_are_refused(staff_client):
    users = UserFactory.create_batch(MAX_USERS_PER_ACTION + 1)

    response = run_action(staff_client, "grant_loyalty", users, {"amount": 1, "reason": "r"})

    assert response.status_code == 302
    assert not LedgerEntry.objects.exists()


def test_grant_actions_need_the_grant_permission(client, user):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    client.force_login(staff)

    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "grant_loyalty" not in page
    run_action(client, "grant_loyalty", [user], {"amount": 5, "reason": "r"})
    assert not LedgerEntry.objects.exists()

    staff.user_permissions.add(Permission.objects.get(codename="add_ledgerentry"))
    staff = type(staff).objects.get(pk=staff.pk)  # fresh permission cache
    client.force_login(staff)
    assert "grant_loyalty" in client.get(reverse(CHANGELIST)).content.decode()
    run_action(client, "grant_loyalty", [user], {"amount": 5, "reason": "r"})
    assert state_of(user).loyalty == 5


# --- The user's page -----------------------------------------------------------------
def user_page(client, user):
    return client.get(reverse("admin:users_user_change", args=[user.pk]))


def test_the_user_page_shows_state_and_bounded_newest_first_history(staff_client, user):
    for day in range(30):
        CheckInFactory(user=user, date=dt.date(2026, 1, 1) + dt.timedelta(days=day))
    loyalty_grant(user_id=user.pk, amount=5, reason="first grant", now=timezone.now())

    page = user_page(staff_client, user).content.decode()

    assert "engagement-state" in page
    assert "check-ins (newest 20)" in page.lower()
    assert page.index("Jan. 30, 2026") < page.index("Jan. 11, 2026")  # newest first
    assert "Jan. 10, 2026" not in page  # the 21st newest is not shown
    assert "first grant" in page
    assert f"?user={user.pk}" in page  # links to all rows


def test_the_user_page_inlines_are_compact_and_show_only_held_tools(staff_client, user):
    loyalty_grant(user_id=user.pk, amount=5, reason="a grant", now=timezone.now())
    CheckInFactory(user=user, date=dt.date(2026, 1, 1), streak=1)
    InventoryItemFactory(user=user, tool=ToolFactory(id="coffee", name="Coffee"), quantity=2)
    InventoryItemFactory(user=user, tool=ToolFactory(id="tea", name="Tea"), quantity=0)

    page = user_page(staff_client, user).content.decode()

    inlines = page.split('id="checkins-group"')[1]
    assert 'class="compact-row"' in inlines
    # No per-row header naming the row (Django's would show the user's id in each).
    assert 'class="original"' not in inlines
    assert "has_original" not in inlines
    assert str(user.pk) not in inlines.split('class="submit-row"')[0]
    inventory = page.split('id="inventory-group"')[1].split("</table>")[0]
    assert "Coffee" in inventory
    assert "Tea" not in inventory  # used up: quantity 0, hidden as the API hides it


def test_the_user_page_costs_the_same_queries_whatever_the_history(staff_client, user):
    user_page(staff_client, user)  # warm the process-wide content type cache
    counts = []
    for days in (0, 10, 100):
        done = user.checkins.count()
        for day in range(done, days):
            CheckInFactory(user=user, date=dt.date(2025, 1, 1) + dt.timedelta(days=day))
            LedgerEntryFactory(user=user)
        with CaptureQueriesContext(connection) as captured:
            assert user_page(staff_client, user).status_code == 200
        counts.append(len(captured))

    # session, staff, the user, their groups and permissions, 4 inlines, the state, the
    # group and permission choices
    assert counts == [12, 12, 12]


def test_saving_the_user_page_cannot_change_state_or_history(staff_client, user):
    loyalty_grant(user_id=user.pk, amount=5, reason="r", now=timezone.now())
    CheckInFactory(user=user, date=dt.date(2026, 1, 1), streak=1)
    page = user_page(staff_client, user)
    data = {
        "email": user.email,
        "display_name": "Renamed",
        "timezone": "UTC",
        "is_active": "on",
        "last_login_0": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name, field in management.fields.items():
            data[f"{formset.formset.prefix}-{name}"] = management.initial.get(name, field.initial)
    # A tampered post: try to change a check-in and the ledger through the inlines.
    data["checkins-0-streak"] = "99"
    data["ledger_entries-0-loyalty"] = "1000"

    response = staff_client.post(reverse("admin:users_user_change", args=[user.pk]), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    user.refresh_from_db()
    assert user.display_name == "Renamed"
    assert user.checkins.get().streak == 1
    assert list(LedgerEntry.objects.values_list("loyalty", flat=True)) == [5]
    assert state_of(user).loyalty == 5


def test_deactivating_in_the_admin_revokes_every_token(staff_client, user):
    from users.tokens import token_pair

    access = token_pair(user)["access"]
    page = reverse("admin:users_user_change", args=[user.pk])
    form = staff_client.get(page).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "email": user.email,
            "timezone": user.timezone,
            "date_joined_0": user.date_joined.date().isoformat(),
            "date_joined_1": user.date_joined.time().strftime("%H:%M:%S"),
        }
    )
    data.pop("is_active", None)  # unticked
    data.pop("groups", None)
    data.pop("user_permissions", None)
    for prefix in ("checkins", "rewards", "inventory", "ledger_entries"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})

    response = staff_client.post(page, data)

    user.refresh_from_db()
    assert not user.is_active, response.content[:2000]
    assert user.token_version == 1
    me = staff_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.status_code == 401


def test_setting_a_password_in_the_admin_revokes_every_token(staff_client, user):
    page = reverse("admin:auth_user_password_change", args=[user.pk])

    response = staff_client.post(
        page, {"password1": "An0ther-Str0ng-Pass!", "password2": "An0ther-Str0ng-Pass!"}
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.token_version == 1
