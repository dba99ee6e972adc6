"""Password change and reset: Django's validators and token generator, the
e-mail, the limits, and every earlier token revoked."""

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.locmem import EmailBackend
from rest_framework.test import APIClient

from base.mail import wait_until_sent
from base.testing import assert_problem, bearer_client
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory
from users.tokens import token_pair

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 77"
CHANGE = "/api/v1/auth/password"
RESET = "/api/v1/auth/password/reset"
CONFIRM = "/api/v1/auth/password/reset/confirm"


def login(email: str, password: str):
    return APIClient().post("/api/v1/auth/login", {"email": email, "password": password})


def stored_password(user: User) -> str:
    return User.objects.values_list("password", flat=True).get(pk=user.pk)


def assert_revoked(pair: dict[str, str]) -> None:
    assert_problem(bearer_client(pair["access"]).get("/api/v1/me"), 401, "token_revoked")
    assert_problem(bearer_client(pair["access"]).post("/api/v1/checkins"), 401, "token_revoked")
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh": pair["refresh"]})
    assert_problem(refreshed, 401, "token_revoked")


class TestChange:
    def test_changes_the_password_revokes_every_earlier_token_and_answers_a_new_pair(self, user):
        this_session, other_session = token_pair(user), token_pair(user)

        response = bearer_client(this_session["access"]).post(
            CHANGE, {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}
        )

        assert response.status_code == 200
        fresh = response.json()
        assert set(fresh) == {"access", "refresh"}
        assert_revoked(this_session)
        assert_revoked(other_session)
        assert bearer_client(fresh["access"]).post("/api/v1/checkins").status_code == 201
        assert APIClient().post("/api/v1/auth/refresh", {"refresh": fresh["refresh"]}).status_code
        assert login(user.email, NEW_PASSWORD).status_code == 200
        assert_problem(login(user.email, TEST_PASSWORD), 401, "invalid_credentials")

    def test_a_wrong_old_password_is_403_and_changes_nothing(self, user):
        pair = token_pair(user)
        before = stored_password(user)

        response = bearer_client(pair["access"]).post(
            CHANGE, {"old_password": "not it at all", "new_password": NEW_PASSWORD}
        )

        # 403, not 401: the token is good; a client must not sign the user out.
        assert_problem(response, 403, "wrong_password")
        assert stored_password(user) == before
        assert bearer_client(pair["access"]).get("/api/v1/me").status_code == 200

    @pytest.mark.parametrize("weak", ["short", "12345678901", "password123"])
    def test_the_password_validators_apply(self, user, weak):
        pair = token_pair(user)
        before = stored_password(user)

        response = bearer_client(pair["access"]).post(
            CHANGE, {"old_password": TEST_PASSWORD, "new_password": weak}
        )

        problem = assert_problem(response, 400, "validation_error")
        assert list(problem["errors"]) == ["new_password"]
        assert stored_password(user) == before
        assert bearer_client(pair["access"]).get("/api/v1/me").status_code == 200

    def test_a_password_like_the_email_is_refused(self):
        user = UserFactory(email="margaret.hamilton@example.com")

        response = bearer_client(token_pair(user)["access"]).post(
            CHANGE, {"old_password": TEST_PASSWORD, "new_password": "margaret.hamilton"}
        )

        assert_problem(response, 400, "validation_error")

    @pytest.mark.parametrize(
        "body",
        [
            {"old_password": TEST_PASSWORD},
            {"new_password": NEW_PASSWORD},
            {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "email": "x@y.z"},
            {"old_password": 5, "new_password": NEW_PASSWORD},
        ],
    )
    def test_a_bad_body_is_400(self, user, body):
        before = stored_password(user)

        response = bearer_client(token_pair(user)["access"]).post(CHANGE, body, format="json")

        assert_problem(response, 400, "validation_error")
        assert stored_password(user) == before

    def test_needs_an_access_token_that_was_not_revoked(self, user):
        pair = token_pair(user)
        body = {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}
        bearer_client(pair["access"]).post("/api/v1/auth/logout-all")

        assert_problem(APIClient().post(CHANGE, body), 401, "not_authenticated")
        assert_problem(bearer_client(pair["access"]).post(CHANGE, body), 401, "token_revoked")
        assert User.objects.get(pk=user.pk).check_password(TEST_PASSWORD)

    def test_wrong_old_passwords_count_as_failed_logins(self, user, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "login_ip": "2/min",
            },
        }
        client = bearer_client(token_pair(user)["access"])
        wrong = {"old_password": "not it at all", "new_password": NEW_PASSWORD}

        statuses = [client.post(CHANGE, wrong).status_code for _ in range(3)]

        assert statuses == [403, 403, 429]
        right = {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}
        assert_problem(client.post(CHANGE, right), 429, "throttled")


def sent() -> list[EmailMultiAlternatives]:
    """The e-mails in the test outbox, each with its plain text and HTML."""
    messages = list(mail.outbox)
    for message in messages:
        assert isinstance(message, EmailMultiAlternatives)
    return messages  # type: ignore[return-value]  # narrowed by the asserts above


def reset_link_values(message) -> tuple[str, str]:
    uid = re.search(r"uid:\s+(\S+)", message.body)
    token = re.search(r"token:\s+(\S+)", message.body)
    assert uid, message.body
    assert token, message.body
    return uid.group(1), token.group(1)


@pytest.fixture
def request_reset(django_capture_on_commit_callbacks):
    """POST auth/password/reset, run what it left for after the commit, and
    wait until the e-mail (if any) was handed to the backend."""

    def post(email: str, client: APIClient | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            response = (client or APIClient()).post(RESET, {"email": email})
        wait_until_sent()
        return response

    return post


def confirm(uid: str, token: str, new_password: str = NEW_PASSWORD):
    return APIClient().post(CONFIRM, {"uid": uid, "token": token, "new_password": new_password})


class TestReset:
    def test_end_to_end_from_the_email_to_a_new_password(self, user, request_reset):
        pair = token_pair(user)

        response = request_reset(user.email.upper())

        assert response.status_code == 202
        assert response.content == b""
        [message] = sent()
        assert message.to == [user.email]
        assert message.subject == "Reset your password"
        [(html, mimetype)] = message.alternatives
        assert mimetype == "text/html"
        assert isinstance(html, str)
        uid, token = reset_link_values(message)
        assert token in html
        assert uid in html

        done = confirm(uid, token)

        assert done.status_code == 200
        assert done.json() == {"detail": "The password was reset; sign in with the new one."}
        assert login(user.email, NEW_PASSWORD).status_code == 200
        assert_problem(login(user.email, TEST_PASSWORD), 401, "invalid_credentials")
        assert_revoked(pair)

    def test_an_unknown_address_is_202_and_mails_nothing(self, user, request_reset):
        response = request_reset("nobody@example.com")

        assert response.status_code == 202
        assert response.content == b""
        assert mail.outbox == []

    def test_an_inactive_account_gets_no_email(self, request_reset):
        user = UserFactory(is_active=False)

        assert request_reset(user.email).status_code == 202
        assert mail.outbox == []

    def test_known_and_unknown_addresses_do_the_same_work(self, user, request_reset, monkeypatch):
        """Same lookup, token and rendering either way; only the hand-over to
        the (background) sender differs."""
        from django.template.loader import render_to_string

        from users import services

        rendered: list[str] = []
        real = render_to_string

        def counted(name: str, context: dict) -> str:
            rendered.append(name)
            return real(name, context)

        monkeypatch.setattr(services, "render_to_string", counted)

        request_reset(user.email)
        known = list(rendered)
        rendered.clear()
        request_reset("nobody@example.com")

        assert rendered == known
        assert len(known) == 3

    def test_a_link_works_once(self, user, request_reset):
        request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])
        assert confirm(uid, token).status_code == 200

        again = confirm(uid, token, "yet another passphrase 99")

        assert_problem(again, 400, "invalid_reset_token")
        assert login(user.email, NEW_PASSWORD).status_code == 200

    def test_a_link_expires_after_password_reset_timeout(self, user, settings, request_reset):
        settings.PASSWORD_RESET_TIMEOUT = 3600
        start = dt.datetime.now(dt.UTC)
        with time_machine.travel(start, tick=False):
            request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])
        before = stored_password(user)

        with time_machine.travel(start + dt.timedelta(seconds=3601), tick=False):
            late = confirm(uid, token)

        assert_problem(late, 400, "invalid_reset_token")
        assert stored_password(user) == before
        with time_machine.travel(start + dt.timedelta(seconds=3599), tick=False):
            assert confirm(uid, token).status_code == 200

    def test_a_login_after_the_request_spends_the_link(self, user, request_reset):
        request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])

        login(user.email, TEST_PASSWORD)

        assert_problem(confirm(uid, token), 400, "invalid_reset_token")

    @pytest.mark.parametrize(
        "uid", ["", "garbage", "bm90LWEtdXVpZA", "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAx"]
    )
    def test_a_wrong_uid_is_invalid(self, user, request_reset, uid):
        request_reset(user.email)
        _, token = reset_link_values(mail.outbox[0])
        before = stored_password(user)

        response = confirm(uid, token)

        assert response.status_code == 400
        assert response.json()["code"] in {"invalid_reset_token", "validation_error"}
        assert stored_password(user) == before

    def test_another_accounts_uid_is_invalid(self, user, request_reset):
        other = UserFactory()
        request_reset(user.email)
        request_reset(other.email)
        uid_user, _ = reset_link_values(mail.outbox[0])
        _, token_other = reset_link_values(mail.outbox[1])

        assert_problem(confirm(uid_user, token_other), 400, "invalid_reset_token")

    @pytest.mark.parametrize("token", ["garbage", "abc-def", "x" * 100])
    def test_a_wrong_token_is_invalid(self, user, request_reset, token):
        request_reset(user.email)
        uid, _ = reset_link_values(mail.outbox[0])

        assert_problem(confirm(uid, token), 400, "invalid_reset_token")

    def test_a_weak_password_is_refused_and_the_link_stays_good(self, user, request_reset):
        request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])

        weak = confirm(uid, token, "12345678901")

        problem = assert_problem(weak, 400, "validation_error")
        assert list(problem["errors"]) == ["new_password"]
        assert confirm(uid, token).status_code == 200

    def test_a_deactivated_account_cannot_use_its_link(self, user, request_reset):
        request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])
        User.objects.filter(pk=user.pk).update(is_active=False)

        assert_problem(confirm(uid, token), 400, "invalid_reset_token")

    def test_a_deleted_account_cannot_use_its_link(self, user, request_reset):
        request_reset(user.email)
        uid, token = reset_link_values(mail.outbox[0])
        User.objects.filter(pk=user.pk).delete()

        assert_problem(confirm(uid, token), 400, "invalid_reset_token")

    def test_the_link_follows_password_reset_url(self, user, settings, request_reset):
        settings.PASSWORD_RESET_URL = "https://app.example.com/reset?uid={uid}&token={token}"

        request_reset(user.email)

        [message] = sent()
        body = str(message.body)
        link = re.search(r"https://app\.example\.com/reset\?uid=(\S+)&token=(\S+)", body)
        assert link, body
        assert 'href="https://app.example.com/reset?uid=' in str(message.alternatives[0][0])
        assert confirm(link.group(1), link.group(2)).status_code == 200

    @pytest.mark.parametrize("body", [{}, {"email": "not-an-address"}, {"email": 5}, {"e": "x"}])
    def test_a_bad_body_is_400(self, user, request_reset, body):
        response = APIClient().post(RESET, body, format="json")

        assert_problem(response, 400, "validation_error")


class TestResetLimits:
    @pytest.fixture(autouse=True)
    def _rates(self, settings):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "password_reset": "4/hour",
                "password_reset_email": "2/hour",
            },
        }

    def test_per_address_from_any_ip_known_or_not(self, user, request_reset):
        for address in (user.email, "nobody@example.com"):
            statuses = [
                request_reset(address.upper(), APIClient(REMOTE_ADDR=f"10.0.0.{i}")).status_code
                for i in range(3)
            ]
            assert statuses == [202, 202, 429], address
        assert len(mail.outbox) == 2

    def test_per_ip_across_addresses(self, request_reset):
        client = APIClient(REMOTE_ADDR="10.9.9.9")

        statuses = [request_reset(f"u{i}@example.com", client).status_code for i in range(5)]

        assert statuses == [202, 202, 202, 202, 429]
        refused = request_reset("u9@example.com", client)
        assert_problem(refused, 429, "throttled")
        assert int(refused["Retry-After"]) > 0
        assert request_reset("u9@example.com", APIClient(REMOTE_ADDR="10.9.9.8")).status_code == 202


class BlockedBackend(EmailBackend):
    """A mail server that does not answer until the test lets it."""

    release = threading.Event()

    def send_messages(self, messages):
        assert self.release.wait(10)
        return super().send_messages(messages)


class TestBackgroundSending:
    def test_the_request_is_answered_while_the_mail_server_hangs(
        self, user, settings, django_capture_on_commit_callbacks
    ):
        settings.EMAIL_BACKEND = f"{__name__}.BlockedBackend"
        BlockedBackend.release.clear()
        try:
            with django_capture_on_commit_callbacks(execute=True):
                response = APIClient().post(RESET, {"email": user.email})
            assert response.status_code == 202
            assert mail.outbox == []  # not sent yet: the server hangs
        finally:
            BlockedBackend.release.set()
        wait_until_sent()
        assert len(mail.outbox) == 1

    def test_a_failing_mail_server_is_logged_not_raised(
        self, user, settings, caplog, django_capture_on_commit_callbacks
    ):
        settings.EMAIL_BACKEND = f"{__name__}.BrokenBackend"

        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post(RESET, {"email": user.email})
        wait_until_sent()

        assert response.status_code == 202
        assert "E-mail not sent" in caplog.text


class BrokenBackend(EmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("no mail server here")
