"""The reference application, run side by side by `make bench`.

The reference is the public NestJS + Prisma service the targets of
docs/PERFORMANCE.md are set against (github.com/programeryk/stateful-engagement-backend
at f48c7cc). Nothing of it is in this repository: docs/PERFORMANCE.md
("Side by side with the reference") says how to build and start it. Given its
URL, its database and its JWT secret, this module gives it users and tokens
the same way `run.py` gives them to this service (rows written straight into
its tables, tokens signed with its secret), counts its check-in rows, finds
its server process for the CPU accounting, and writes its check-in
transaction as a pgbench script.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
import uuid
from dataclasses import dataclass

import jwt

# Its check-in transaction, as the reference issues it (statements and their
# shape copied from PostgreSQL's log of one real check-in; Prisma binds the
# values as parameters, pgbench's simple protocol inlines them).
CHECKIN_TRANSACTION = """\
-- The reference's check-in: lock-free reads, insert, update (its checkins.service.ts).
\\set uid random(1, {users})
\\set day random(1, 2000000)
BEGIN;
SELECT "id", "userId", "level", "energy", "loyalty", "fatigue", "streak", "updatedAt"
  FROM "UserState" WHERE ("userId" = {user} AND 1=1) LIMIT 1 OFFSET 0;
SELECT "id", "userId", "date", "createdAt" FROM "DailyCheckIn"
  WHERE (("userId" = {user} AND "date" = {yesterday}) AND 1=1) LIMIT 1 OFFSET 0;
SELECT "id", "title", "description", "type", "threshold", "effects" FROM "Reward"
  WHERE ("type" = 'streak' AND "threshold" <= 1) OFFSET 0;
INSERT INTO "DailyCheckIn" ("id", "userId", "date", "createdAt")
  VALUES (gen_random_uuid()::text, {user}, {today}, now())
  ON CONFLICT DO NOTHING
  RETURNING "id", "userId", "date", "createdAt";
UPDATE "UserState" SET "level" = 1, "energy" = 70, "fatigue" = 10, "loyalty" = 5,
  "streak" = 1, "updatedAt" = now()
  WHERE ("userId" = {user} AND 1=1)
  RETURNING "id", "userId", "level", "energy", "loyalty", "fatigue", "streak", "updatedAt";
COMMIT;
"""


def reference_user_id(index: int) -> str:
    return str(uuid.UUID(int=(0xEF << 120) + index))


@dataclass
class Reference:
    url: str
    db_url: str
    secret: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def psql(self, sql: str) -> str:
        return subprocess.run(
            ["psql", self.db_url, "-qAtc", sql], check=True, text=True, capture_output=True
        ).stdout.strip()

    def create_users(self, count: int) -> None:
        """Users 1..count with their state rows (the reference's defaults),
        replacing any bench users of an earlier run."""
        new_id = "'ef' || lpad(to_hex(i), 30, '0')"
        as_uuid = f"({new_id})::uuid::text"
        self.psql(
            f"""
            DELETE FROM "User" WHERE email LIKE 'bench%@example.com';
            INSERT INTO "User" ("id", "email", "name", "passwordHash")
              SELECT {as_uuid}, 'bench' || i || '@example.com', NULL, NULL
              FROM generate_series(1, {count}) i;
            INSERT INTO "UserState" ("id", "userId", "updatedAt")
              SELECT gen_random_uuid()::text, {as_uuid}, now()
              FROM generate_series(1, {count}) i;
            ANALYZE;
            """
        )

    def tokens(self, first: int, last: int) -> list[str]:
        """Access tokens of users first..last, signed as its AuthService signs them."""
        issued = int(time.time())
        return [
            jwt.encode(
                {
                    "sub": reference_user_id(i),
                    "email": f"bench{i}@example.com",
                    "iat": issued,
                    "exp": issued + 4 * 3600,
                },
                self.secret,
                algorithm="HS256",
            )
            for i in range(first, last + 1)
        ]

    def checked_in_since(self, since: dt.datetime) -> list[int]:
        """Bench user numbers with a check-in row created since ``since``."""
        rows = self.psql(
            f"""SELECT "userId" FROM "DailyCheckIn"
                WHERE "createdAt" >= '{since.astimezone(dt.UTC).replace(tzinfo=None)}'"""
        )
        return [uuid.UUID(row).int - (0xEF << 120) for row in rows.splitlines() if row]

    def checkin_script(self, users: int) -> str:
        user = "('ef' || lpad(to_hex(:uid), 30, '0'))::uuid::text"
        return CHECKIN_TRANSACTION.format(
            users=users,
            user=user,
            today="('2000-01-03'::date + :day)",
            yesterday="('2000-01-02'::date + :day)",
        )

    def server_pid(self) -> int:
        """The process listening on the reference's port (its CPU is measured)."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as sockets:
                for line in list(sockets)[1:]:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == self.port:
                        inodes.add(f"socket:[{inode}]")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                    return int(pid)
            except OSError:
                continue
        raise SystemExit(f"nothing listens on port {self.port}: start the reference first")
