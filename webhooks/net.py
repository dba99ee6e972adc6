"""Sending one webhook request, safely.

The target's name is resolved once; every address it resolves to must be
public (not private, loopback, link-local, multicast, reserved or
unspecified) unless the host is in ``WEBHOOK_ALLOWED_HOSTS``. The connection
then goes to the vetted address itself, with the host's name for TLS (SNI and
certificate check) and the ``Host`` header, so a DNS answer that changes
between the check and the connection cannot redirect it. Redirects are not
followed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

EXCERPT_BYTES = 1024
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


class UnsafeTarget(Exception):
    """The URL may not be called (scheme, or an address that is not public)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query
    address: str  # the vetted IP address to connect to


@dataclass(frozen=True)
class Response:
    status_code: int | None  # None: no HTTP answer (timeout, refused, reset)
    error: str
    excerpt: str
    duration_ms: int


def host_allowed(host: str) -> bool:
    return host.lower().strip("[]") in {
        h.lower().strip("[]") for h in settings.WEBHOOK_ALLOWED_HOSTS
    }


def check_url(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path of ``url``, if its form may be used:
    https, or http for an allowed host. Raises :class:`UnsafeTarget`."""
    if _CONTROL_OR_SPACE.search(url):
        # urlsplit drops some of them silently; the request line may hold none.
        raise UnsafeTarget("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeTarget(f"Not a valid URL: {error}.") from None
    host = parts.hostname or ""
    if not host:
        raise UnsafeTarget("The URL has no host.")
    if port == 0:
        raise UnsafeTarget("Port 0 cannot be called.")
    if parts.username or parts.password:
        raise UnsafeTarget("The URL may not carry credentials.")
    if parts.scheme == "http" and not host_allowed(host):
        raise UnsafeTarget("Plain http is allowed only for hosts in WEBHOOK_ALLOWED_HOSTS.")
    if parts.scheme not in ("https", "http"):
        raise UnsafeTarget("The URL must use https.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address; an IPv6
    address that carries an IPv4 one (mapped, 6to4, NAT64) is judged by it."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve(url: str) -> Target:
    """The vetted target of ``url``. Raises :class:`UnsafeTarget`."""
    scheme, host, port, path = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeTarget(f"The host does not resolve: {error}.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not host_allowed(host):
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeTarget(
                f"{host} resolves to a private, loopback or link-local address "
                f"({refused[0]}); add it to WEBHOOK_ALLOWED_HOSTS to allow it."
            )
    if not addresses:
        raise UnsafeTarget("The host does not resolve.")
    return Target(scheme, host, port, path, addresses[0])


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST ``body`` to the vetted target; never raises for network trouble."""
    started = time.monotonic()
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    pool: urllib3.HTTPConnectionPool
    limits = urllib3.Timeout(total=timeout)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limits,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=limits, retries=False, maxsize=1
        )
    deadline = started + timeout
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            excerpt = b""
            while len(excerpt) < EXCERPT_BYTES and time.monotonic() < deadline:
                chunk = response.read(EXCERPT_BYTES - len(excerpt))
                if not chunk:
                    break
                excerpt += chunk
        finally:
            response.release_conn()
        return Response(
            status_code=response.status,
            error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
            excerpt=excerpt.decode("utf-8", "replace"),
            duration_ms=_elapsed_ms(started),
        )
    except urllib3.exceptions.HTTPError as error:
        return Response(None, _describe(error), "", _elapsed_ms(started))
    except (OSError, ValueError) as error:
        return Response(None, f"{type(error).__name__}: {error}"[:300], "", _elapsed_ms(started))
    finally:
        pool.close()


def _describe(error: Exception) -> str:
    # NewConnectionError first: urllib3 makes it a ConnectTimeoutError too.
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "Connection refused or unreachable."
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "Timed out."
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return "Connection closed without a response."
    if isinstance(error, urllib3.exceptions.SSLError):
        return f"TLS error: {error}"[:300]
    return f"{type(error).__name__}: {error}"[:300]


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
