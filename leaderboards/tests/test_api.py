"""GET leaderboards/{board}: ranks, ties, limits, opt-out, names, errors."""

import datetime as dt

import pytest
import time_machine

from base.testing import assert_problem
from leaderboards.boards import alias
from leaderboards.tests.helpers import MONDAY, at, board, check_in, days, top
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db

SUNDAY = MONDAY + dt.timedelta(days=6)
THURSDAY_EVENING = at(MONDAY + dt.timedelta(days=3), 20)


@pytest.fixture
def four():
    """Streaks 4, 3, 3 and 1 on Thursday, from real check-ins (so also 4, 3,
    3 and 1 check-ins this week)."""
    ann, dan = UserFactory(display_name="Ann"), UserFactory(display_name="Dan")
    # Ties are listed by user id: Bob is the tied user with the smaller one.
    bob, cat = sorted(UserFactory.create_batch(2), key=lambda user: user.pk)
    for user, name in ((bob, "Bob"), (cat, "Cat")):
        user.display_name = name
        user.save(update_fields=["display_name"])
    check_in(ann, days(MONDAY, 4))
    check_in(bob, days(MONDAY + dt.timedelta(days=1), 3))
    check_in(cat, days(MONDAY + dt.timedelta(days=1), 3))
    check_in(dan, days(MONDAY + dt.timedelta(days=3), 1))
    return ann, bob, cat, dan


@pytest.mark.parametrize("name", ["streak", "weekly"])
def test_ties_share_a_rank_and_the_next_rank_skips(four, name):
    ann, _bob, cat, dan = four
    body = board(dan, name, THURSDAY_EVENING)

    assert top(body) == [(1, "Ann", 4), (2, "Bob", 3), (2, "Cat", 3), (4, "Dan", 1)]
    assert body["me"] == {"rank": 4, "score": 1}
    assert body["participants"] == 4
    assert body["board"] == name
    assert body["final"] is False
    assert board(cat, name, THURSDAY_EVENING)["me"] == {"rank": 2, "score": 3}
    assert board(ann, name, THURSDAY_EVENING)["me"] == {"rank": 1, "score": 4}


def test_tied_users_come_in_a_stable_order(four):
    _, bob, cat, _ = four
    first = [row["display_name"] for row in board(bob, "streak", THURSDAY_EVENING)["top"]]
    again = [row["display_name"] for row in board(cat, "weekly", THURSDAY_EVENING)["top"]]
    assert first == again
    expected = sorted([bob, cat], key=lambda u: u.pk)
    assert first[1:3] == [u.display_name for u in expected]


def test_periods(four):
    ann = four[0]
    weekly = board(ann, "weekly", THURSDAY_EVENING)
    assert weekly["period"] == {"start": "2026-03-02", "end": "2026-03-08"}
    streak = board(ann, "streak", THURSDAY_EVENING)
    assert streak["period"] == {"start": "2026-03-05", "end": "2026-03-05"}


def test_limit_cuts_the_top_but_not_the_ranks(four):
    _ann, _bob, _cat, dan = four
    body = board(dan, "streak", THURSDAY_EVENING, limit=2)
    assert top(body) == [(1, "Ann", 4), (2, "Bob", 3)]
    assert body["me"] == {"rank": 4, "score": 1}
    assert body["participants"] == 4
    assert len(board(dan, "streak", THURSDAY_EVENING, limit=100)["top"]) == 4
    assert len(board(dan, "streak", THURSDAY_EVENING, limit=1)["top"]) == 1


def test_the_default_limit_is_10():
    users = UserFactory.create_batch(12)
    for user in users:
        check_in(user, days(MONDAY, 1))
    body = board(users[0], "weekly", THURSDAY_EVENING)
    assert len(body["top"]) == 10
    assert body["participants"] == 12
    assert {row["rank"] for row in body["top"]} == {1}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"period": "next"},
        {"period": "PREVIOUS"},
    ],
)
def test_bad_limit_or_period_is_a_400_problem(auth_client, params):
    response = auth_client.get("/api/v1/leaderboards/weekly", params)
    body = assert_problem(response, 400, "validation_error")
    assert set(body["errors"]) == set(params)


def test_the_streak_board_has_no_previous_period(auth_client):
    response = auth_client.get("/api/v1/leaderboards/streak", {"period": "previous"})
    assert_problem(response, 404, "no_previous_period")


@pytest.mark.parametrize("name", ["period", "limit"])
def test_an_empty_query_value_is_a_400_problem_not_the_default(auth_client, name):
    response = auth_client.get(f"/api/v1/leaderboards/weekly?{name}=")
    body = assert_problem(response, 400, "validation_error")
    assert set(body["errors"]) == {name}


@pytest.mark.parametrize("name", ["monthly", "STREAK", "streak%00", "..", "1"])
def test_an_unknown_board_is_a_404_problem(auth_client, name):
    assert_problem(auth_client.get(f"/api/v1/leaderboards/{name}"), 404, "unknown_board")


def test_anonymous_callers_get_a_401_problem(api_client, user):
    assert_problem(api_client.get("/api/v1/leaderboards/streak"), 401)


def test_a_deactivated_caller_gets_a_401_problem(user, auth_client):
    user.is_active = False
    user.save()
    assert_problem(auth_client.get("/api/v1/leaderboards/weekly"), 401, "account_unavailable")


def test_a_user_without_a_score_sees_the_board_and_no_rank(four):
    newcomer = UserFactory()
    body = board(newcomer, "weekly", THURSDAY_EVENING)
    assert body["me"] is None
    assert body["participants"] == 4
    assert len(body["top"]) == 4


def test_an_empty_board(user):
    body = board(user, "streak", THURSDAY_EVENING)
    assert body["top"] == []
    assert body["me"] is None
    assert body["participants"] == 0


def test_names_are_display_names_or_an_alias_never_the_email(four):
    nameless = UserFactory(display_name="", email="secret.person@example.com")
    check_in(nameless, days(MONDAY, 4))
    body = board(nameless, "streak", THURSDAY_EVENING)
    names = [row["display_name"] for row in body["top"]]
    assert alias(nameless.pk) in names
    assert set(body["top"][0]) == {"rank", "display_name", "score"}
    with time_machine.travel(THURSDAY_EVENING, tick=False):
        raw = client_for(nameless).get("/api/v1/leaderboards/weekly").content.decode()
    assert "secret" not in raw
    assert "@" not in raw
    assert str(nameless.pk) not in raw


def test_opting_out_leaves_every_board_and_opting_in_comes_back(four):
    _ann, bob, _cat, dan = four
    with time_machine.travel(THURSDAY_EVENING, tick=False):
        response = client_for(bob).patch("/api/v1/me", {"leaderboard_opt_in": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["leaderboard_opt_in"] is False

    for name in ("streak", "weekly"):
        body = board(dan, name, THURSDAY_EVENING)
        assert top(body) == [(1, "Ann", 4), (2, "Cat", 3), (3, "Dan", 1)]
        assert body["participants"] == 3
        assert body["me"] == {"rank": 3, "score": 1}
        assert board(bob, name, THURSDAY_EVENING)["me"] is None

    # Counted meanwhile, shown again once back.
    check_in(bob, [at(MONDAY + dt.timedelta(days=4))])
    friday = at(MONDAY + dt.timedelta(days=4), 20)
    assert board(dan, "weekly", friday)["participants"] == 3
    with time_machine.travel(friday, tick=False):
        client_for(bob).patch("/api/v1/me", {"leaderboard_opt_in": True}, format="json")
        me = client_for(bob).get("/api/v1/me").json()
    assert me["user"]["leaderboard_opt_in"] is True
    body = board(dan, "weekly", friday)
    assert top(body)[:2] == [(1, "Ann", 4), (1, "Bob", 4)] or top(body)[:2] == [
        (1, "Bob", 4),
        (1, "Ann", 4),
    ]
    assert body["participants"] == 4
    assert board(bob, "streak", friday)["me"] == {"rank": 1, "score": 4}


def test_opting_out_twice_changes_nothing_more(four):
    ann = four[0]
    with time_machine.travel(THURSDAY_EVENING, tick=False):
        for _ in range(2):
            response = client_for(ann).patch(
                "/api/v1/me", {"leaderboard_opt_in": False}, format="json"
            )
            assert response.status_code == 200
    assert board(four[1], "streak", THURSDAY_EVENING)["participants"] == 3


def test_opt_in_must_be_a_boolean(auth_client):
    response = auth_client.patch("/api/v1/me", {"leaderboard_opt_in": "maybe"}, format="json")
    assert_problem(response, 400, "validation_error")


def test_users_are_shown_by_default(auth_client):
    assert auth_client.get("/api/v1/me").json()["user"]["leaderboard_opt_in"] is True


def test_an_erased_account_leaves_the_boards(four):
    _ann, bob, _cat, dan = four
    from users.tests.factories import TEST_PASSWORD

    with time_machine.travel(THURSDAY_EVENING, tick=False):
        response = client_for(bob).delete("/api/v1/me", {"password": TEST_PASSWORD}, format="json")
    assert response.status_code == 204, response.content
    for name in ("streak", "weekly"):
        body = board(dan, name, THURSDAY_EVENING)
        assert top(body) == [(1, "Ann", 4), (2, "Cat", 3), (3, "Dan", 1)]
        assert body["participants"] == 3


@pytest.mark.parametrize("name", ["streak", "weekly"])
def test_a_board_costs_a_bounded_number_of_statements(four, name, django_assert_max_num_queries):
    dan = four[3]
    with time_machine.travel(THURSDAY_EVENING, tick=False):
        client = client_for(dan)
        # BEGIN, SET TRANSACTION, the caller, (the caller's week), top, counts, COMMIT
        with django_assert_max_num_queries(7):
            response = client.get("/api/v1/leaderboards/" + name, {"limit": 100})
    assert response.status_code == 200
