"""Faults injected for real into the running service: a worker killed, the
database connections terminated, the database unreachable."""

from __future__ import annotations

import os
import signal
import threading
import time

from conftest import (
    burst,
    get,
    post,
    terminate_server_connections,
    verify_invariants,
    wait_until,
)

PROBLEM = "application/problem+json"
WORKERS = int(os.environ.get("CHAOS_WORKERS", "3"))


def assert_invariants_hold():
    result = verify_invariants()
    assert result.returncode == 0, result.stdout + result.stderr


def test_killing_a_worker_mid_burst_loses_no_acknowledged_write(server, make_users):
    """SIGKILL one worker while check-ins, claims and purchases are in flight:
    every 2xx a client saw has its rows, nothing is half-applied, and the
    server replaces the worker by itself."""
    from checkins.models import CheckIn
    from engagement.models import LedgerEntry
    from rewards.models import InventoryItem, Reward, UserReward

    Reward.objects.update_or_create(
        id="chaos_first",
        defaults={"title": "First", "rule": "total_checkins", "threshold": 1,
                  "effects": {"loyalty": 1}},
    )  # fmt: skip
    users = make_users(150, loyalty=100)
    done = []
    lock = threading.Lock()

    def journey(token):
        def run():
            replies = [
                ("checkin", post(server, "/api/v1/checkins", token)),
                ("claim", post(server, "/api/v1/rewards/chaos_first/claim", token)),
                ("buy", post(server, "/api/v1/inventory/coffee/buy", token)),
            ]
            with lock:
                done.append(1)
            return replies

        return run

    victim = server.worker_pids()[0]

    def killer():
        wait_until(lambda: len(done) >= 20, timeout=60, interval=0.01)
        os.kill(victim, signal.SIGKILL)

    threading.Thread(target=killer, daemon=True).start()
    results = burst([journey(token) for _, token in users], threads=24)

    assert len(done) == len(users)
    outcomes = {"ok": 0, "no_answer": 0, "other": 0}
    for (user, _), replies in zip(users, results, strict=True):
        for op, reply in replies:
            if reply.status == 0:
                outcomes["no_answer"] += 1
                continue
            assert reply.status < 500, (op, reply)
            if reply.status in (200, 201):
                outcomes["ok"] += 1
                if op == "checkin":
                    assert CheckIn.objects.filter(user=user).count() == 1
                    assert LedgerEntry.objects.filter(user=user, kind="checkin").count() == 1
                elif op == "claim":
                    owned = UserReward.objects.get(user=user, reward_id="chaos_first")
                    assert owned.claimed_at is not None
                else:
                    assert InventoryItem.objects.get(user=user, tool_id="coffee").quantity == 1
            else:
                outcomes["other"] += 1
    assert outcomes["ok"] > len(users)  # most of the burst went through
    assert victim not in server.worker_pids()
    wait_until(lambda: len(server.worker_pids()) >= 3, timeout=30)
    assert_invariants_hold()
    _, fresh_token = make_users(1)[0]
    assert post(server, "/api/v1/checkins", fresh_token).status == 201


def test_terminated_database_connections_give_503s_then_recover(server, make_users):
    """pg_terminate_backend on every connection of the service mid-burst:
    affected requests get a 503 problem (no hang, no 500), nothing is
    half-written, and the next requests succeed without a restart."""
    users = make_users(200)
    started = threading.Event()
    terminated = []

    def killer():
        started.wait(30)
        time.sleep(0.3)
        # Until some connection of the server was there to terminate (on a
        # loaded machine the pool may still be opening its first ones).
        deadline = time.monotonic() + 5
        count = terminate_server_connections()
        while count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            count = terminate_server_connections()
        terminated.append(count)

    def checkin(token):
        def run():
            started.set()
            return post(server, "/api/v1/checkins", token), token

        return run

    threading.Thread(target=killer, daemon=True).start()
    results = burst([checkin(token) for _, token in users], threads=24)

    assert terminated
    assert terminated[0] > 0
    statuses = [reply.status for reply, _ in results]
    assert set(statuses) <= {201, 503}, statuses
    for reply, _ in results:
        assert reply.seconds < 10
        if reply.status == 503:
            assert reply.content_type == PROBLEM
            assert reply.body["code"] == "database_unavailable"
    # Retrying what failed succeeds: at most one more 503 per stale connection.
    retry = [token for reply, token in results if reply.status == 503]
    second = burst([checkin(token) for token in retry], threads=4)
    third = burst([checkin(token) for reply, token in second if reply.status == 503], threads=4)
    assert all(reply.status == 201 for reply, _ in third)
    assert_invariants_hold()
    from checkins.models import CheckIn

    assert CheckIn.objects.filter(user__in=[u for u, _ in users]).count() == len(users)


def test_an_unreachable_database_is_a_quick_503_and_the_service_recovers(server, proxy, make_users):
    ((_, token),) = make_users(1)
    assert get(server, "/readyz").status == 200

    # PostgreSQL down: connections refused.
    proxy.stop()
    for path, reply in [
        ("/readyz", get(server, "/readyz")),
        ("/api/v1/me", get(server, "/api/v1/me", token)),
        ("/api/v1/checkins", post(server, "/api/v1/checkins", token)),
    ]:
        assert reply.status == 503, (path, reply)
        assert reply.content_type == PROBLEM
        assert reply.body["code"] == "database_unavailable"
        assert reply.seconds < 3, (path, reply.seconds)
    assert get(server, "/healthz").status == 200  # the process itself is fine

    # A dead network: connections hang until the connect timeout (2 s) ends them.
    proxy.start()
    proxy.blackhole()
    reply = get(server, "/api/v1/me", token)
    assert reply.status == 503
    assert reply.seconds < 5, reply.seconds

    # Back: the service recovers by itself. A worker process that saw the
    # failure recycles all its old connections; one that did not may fail
    # once on its first stale connection, then recycles too.
    proxy.stop()
    proxy.start()
    wait_until(lambda: get(server, "/readyz").status == 200, timeout=15)
    statuses = [get(server, "/api/v1/me", token).status for _ in range(40)]
    assert statuses.count(503) <= WORKERS, statuses
    assert set(statuses[-20:]) == {200}, statuses
    assert post(server, "/api/v1/checkins", token).status == 201
    assert_invariants_hold()
