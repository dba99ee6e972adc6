"""Authentications per second of each bearer-token class on the same token, in
one run, and the share of an in-process ``GET /api/v1/me`` they represent.

    .venv/bin/python scripts/bench/auth_micro.py [--before REV] [-n 5000] [--rounds 9]

Classes: simplejwt's ``JWTStatelessUserAuthentication``, this project's
``BearerTokenAuthentication`` (simplejwt's, with a UUID pk and the outcome
kept on the request), and, with ``--before REV``, the ``users/authentication.py``
of that revision (e.g. the hand-rolled PyJWT check of 15f78ac~1). Each
authentication gets a fresh request, dropped after it; the time to build one is
measured alone and subtracted. Runs on a scratch SQLite file with the test
settings, the per-user throttle off. Figures: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a git revision whose users/authentication.py to add")
    parser.add_argument("-n", type=int, default=5000, help="authentications per round")
    parser.add_argument(
        "--rounds", type=int, default=9, help="rounds, each class in turn (the median is reported)"
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="auth-micro-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=f"sqlite:///{scratch / 'db.sqlite3'}",
        THROTTLE_USER="off",
        ACCESS_LOG="0",
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

    from users.authentication import BearerTokenAuthentication
    from users.models import User
    from users.tokens import token_pair

    classes: dict[str, type] = {
        "simplejwt JWTStatelessUserAuthentication": JWTStatelessUserAuthentication,
        "BearerTokenAuthentication": BearerTokenAuthentication,
    }
    if args.before:
        source = subprocess.run(
            ["git", "show", f"{args.before}:users/authentication.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path = scratch / "before_authentication.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("before_authentication", path)
        assert spec
        assert spec.loader
        before = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(before)
        classes = {f"users/authentication.py of {args.before}": before.BearerTokenAuthentication}
        classes |= {
            "simplejwt JWTStatelessUserAuthentication": JWTStatelessUserAuthentication,
            "BearerTokenAuthentication": BearerTokenAuthentication,
        }

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(email="bench@example.com", password=None)
    token = token_pair(user)["access"]
    factory = APIRequestFactory()

    def fresh() -> Request:
        return Request(factory.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}"))

    building: list[float] = []
    rates: dict[str, list[float]] = {name: [] for name in classes}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.n):
            fresh()
        building.append((time.perf_counter() - start) / args.n)
        for name, cls in classes.items():
            auth = cls()
            start = time.perf_counter()
            for _ in range(args.n):
                result = auth.authenticate(fresh())
            rates[name].append(1 / ((time.perf_counter() - start) / args.n - min(building)))
            assert result is not None
            assert str(result[0].pk) == str(user.pk)

    # The second check in one request (the idempotency middleware checked first).
    request = fresh()
    auth = BearerTokenAuthentication()
    auth.authenticate(request)
    start = time.perf_counter()
    for _ in range(args.n):
        auth.authenticate(request)
    reused = args.n / (time.perf_counter() - start)

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
    assert client.get("/api/v1/me").status_code == 200
    me: list[float] = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(500):
            client.get("/api/v1/me")
        me.append(500 / (time.perf_counter() - start))
    me_us = 1e6 / statistics.median(me)

    print(f"building a request (subtracted): {min(building) * 1e6:.1f} us")
    print(f"GET /api/v1/me in-process: median {statistics.median(me):.0f}/s ({me_us:.0f} us)")
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"{name:48s} median {median:7.0f}/s ({1e6 / median:5.1f} us, "
            f"{100 * 1e6 / median / me_us:4.1f}% of GET /me), best {max(values):7.0f}/s"
        )
    label = "the outcome kept on the request, reused"
    print(f"{label:48s} {reused:9.0f}/s ({1e6 / reused:.1f} us)")


if __name__ == "__main__":
    main()
