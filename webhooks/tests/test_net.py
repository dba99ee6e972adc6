"""The SSRF guard: only public addresses, unless the host is allowed; an
attempt to a refused target is an error on the delivery, never a request."""

from __future__ import annotations

import socket

import pytest
from django.utils import timezone

from webhooks import net, services
from webhooks.models import Delivery
from webhooks.tests.helpers import checkin_event, delivery_of

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",  # noqa: S104 (an address the guard must refuse)
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]


@pytest.fixture
def dns(monkeypatch):
    """``dns[name] = [addresses]``: what those names resolve to; other names as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_addresses_that_are_not_public_are_refused(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []

    with pytest.raises(net.UnsafeTarget, match="private, loopback or link-local"):
        net.resolve(f"https://{literal(address)}/hook")


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_a_name_resolving_to_them_is_refused(settings, dns, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    dns["hooks.example.com"] = ["93.184.216.34", address]  # one bad answer is enough

    with pytest.raises(net.UnsafeTarget, match=r"hooks\.example\.com resolves to"):
        net.resolve("https://hooks.example.com/hook")


@pytest.mark.parametrize("address", ["10.0.0.1", "::1", "169.254.169.254"])
def test_an_allowed_host_may_be_private(settings, dns, address):
    settings.WEBHOOK_ALLOWED_HOSTS = ["internal.example.com", literal(address)]
    dns["internal.example.com"] = [address]

    assert net.resolve("https://internal.example.com/h").address == address
    assert net.resolve(f"http://{literal(address)}:8080/h?x=1").address == address
    target = net.resolve(f"http://{literal(address)}:8080/h?x=1")
    assert (target.scheme, target.port, target.path) == ("http", 8080, "/h?x=1")


def test_a_public_address_is_used_as_resolved(settings, dns):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    dns["hooks.example.com"] = ["93.184.216.34"]

    target = net.resolve("https://hooks.example.com/in")

    assert target == net.Target("https", "hooks.example.com", 443, "/in", "93.184.216.34")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "Plain http is allowed only"),
        ("http://127.0.0.1/", "Plain http is allowed only"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://user@hooks.example.com/", "credentials"),
        ("ftp://hooks.example.com/", "must use https"),
        ("file:///etc/passwd", "no host"),
        ("https:///path", "no host"),
        ("https://hooks.example.com:99999/", "Not a valid URL"),
        ("https://hooks.example.com:0/", "Port 0"),
        ("https://hooks.example.com/a b", "spaces or control"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces or control"),
        ("https://hooks.example.com/\x00", "spaces or control"),
    ],
)
def test_urls_of_a_refused_form(settings, url, reason):
    settings.WEBHOOK_ALLOWED_HOSTS = []

    with pytest.raises(net.UnsafeTarget, match=reason):
        net.check_url(url)


def test_http_is_allowed_for_allowed_hosts_only(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]

    assert net.check_url("http://127.0.0.1:8000/h") == ("http", "127.0.0.1", 8000, "/h")
    with pytest.raises(net.UnsafeTarget):
        net.check_url("http://localhost:8000/h")


@pytest.mark.django_db
def test_endpoint_create_refuses_an_unsafe_url(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []

    with pytest.raises(net.UnsafeTarget):
        services.endpoint_create(
            url="http://hooks.example.com/", event_types=[], now=timezone.now()
        )


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that counts the connections made to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)

        def connections() -> int:
            count = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    return count
                conn.close()
                count += 1

        yield sock.getsockname()[1], connections


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "rebound.example.com"])
def test_an_attempt_to_a_refused_address_is_an_error_and_sends_nothing(
    settings, dns, listener, host
):
    """The URL passed when it was saved; by the attempt the name resolves to
    loopback (a DNS change, or a name that always did): refused, recorded."""
    port, connections = listener
    dns["rebound.example.com"] = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    now = timezone.now()
    services.endpoint_create(url=f"https://{host}:{port}/hook", event_types=[], now=now)
    delivery = delivery_of(checkin_event(now), now=now)

    outcome = services.attempt(delivery_id=delivery.pk, now=now)

    assert outcome.status == "pending"
    assert outcome.status_code is None
    assert outcome.error.startswith(f"Refused: {host} resolves to a private, loopback")
    delivery.refresh_from_db()
    assert delivery.last_error == outcome.error
    (attempt,) = delivery.attempt_log.all()
    assert attempt.error == outcome.error
    assert attempt.status_code is None
    assert connections() == 0


@pytest.mark.django_db
def test_an_attempt_after_the_host_was_disallowed_sends_nothing(settings, listener):
    port, connections = listener
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    now = timezone.now()
    services.endpoint_create(url=f"http://127.0.0.1:{port}/hook", event_types=[], now=now)
    delivery = delivery_of(checkin_event(now), now=now)
    settings.WEBHOOK_ALLOWED_HOSTS = []

    outcome = services.attempt(delivery_id=delivery.pk, now=now)

    assert (
        outcome.error == "Refused: Plain http is allowed only for hosts in WEBHOOK_ALLOWED_HOSTS."
    )
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"
    assert connections() == 0


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2002:5db8:d822::1", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address):
    assert net.is_public(address)
