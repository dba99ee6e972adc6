"""After the run: every success a client or staff saw has exactly its rows.

Per user, from the answers and the database report (django_side.py report):
- check-ins: 201s == CheckIn rows == `checkin` ledger entries;
- claims: 200s per reward == that reward claimed; `reward_claim` ledger
  entries == claims + auto-claimed rewards owned;
- shop: buy 201s == `tool_buy` entries, use 200s == `tool_use` entries, and
  every tool's quantity == start + bought + granted - used;
- staff: each "ok" has its `admin_grant`/`admin_adjust` entry with the reason;
- time zone: changed iff a PATCH answered 200, to the zone that was sent;
- ownership is exact: a user owns a reward iff the final state meets its rule
  (every rule used is monotonic within a day, and rules are evaluated after
  every state change, so a met rule must have unlocked).
The ledger replaying to the state is `manage.py verify_invariants`.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ops import timezone_for

SETUP, STAFF, CLI = "stress setup", "stress staff", "stress cli"
STAFF_LEDGER = {
    "grant_loyalty": f"admin_grant/{STAFF}",
    "grant_coffee": f"admin_grant/{STAFF}",
    "grant_freeze": f"admin_grant/{STAFF}",
    "adjust_energy": f"admin_adjust/{STAFF}",
    "cli_grant_loyalty": f"admin_grant/{CLI}",
}


def accounting(answers, staff_outcomes, report, start_tools) -> list[str]:
    ok = defaultdict(Counter)  # email -> Counter of (kind, target)
    for a in answers:
        if a.status and a.status < 300:
            ok[a.op.email][(a.op.kind, a.op.target)] += 1
    staff_ok = defaultdict(Counter)
    for outcome in staff_outcomes:
        if outcome["outcome"] == "ok":
            staff_ok[outcome["email"]][outcome["op"]] += 1

    problems = []
    catalog = report["catalog"]
    for email, db in sorted(report["users"].items()):
        mine, staff = ok[email], staff_ok[email]

        def expect(what, seen, rows, email=email):
            if seen != rows:
                problems.append(f"{email}: {what}: {seen} by the answers, {rows} in the database")

        ledger = Counter(db["ledger"])
        checkins = mine[("checkin", "")]
        expect("check-ins", checkins, db["checkins"])
        expect("check-in ledger entries", checkins, ledger["checkin"])
        claims = 0
        for reward_id, rule in catalog.items():
            claimed = mine[("claim", reward_id)]
            claims += claimed
            if not rule["auto_claim"]:
                expect(f"claims of {reward_id}", claimed, int(db["rewards"].get(reward_id, False)))
        auto = sum(1 for r in db["rewards"] if catalog.get(r, {}).get("auto_claim"))
        expect("reward_claim ledger entries", claims + auto, ledger["reward_claim"])
        buys = sum(n for (kind, _), n in mine.items() if kind == "buy")
        uses = sum(n for (kind, _), n in mine.items() if kind == "use")
        expect("tool_buy ledger entries", buys, ledger["tool_buy"])
        expect("tool_use ledger entries", uses, ledger["tool_use"])
        tools = {t for (kind, t) in mine if kind in ("buy", "use")} | set(db["inventory"])
        for tool in sorted(tools | set(start_tools)):
            quantity = (
                (tool in start_tools)
                + mine[("buy", tool)]
                + (staff["grant_coffee"] if tool == "coffee" else 0)
                - mine[("use", tool)]
            )
            expect(f"{tool} in inventory", quantity, db["inventory"].get(tool, 0))
        for entry in set(STAFF_LEDGER.values()):
            granted = sum(staff[op] for op, e in STAFF_LEDGER.items() if e == entry)
            expect(f"{entry} ledger entries", granted, ledger[entry])
        changed = db["timezone"] != "UTC"
        if changed != bool(mine[("timezone", "")]) or (
            changed and db["timezone"] != timezone_for(email)
        ):
            problems.append(
                f"{email}: time zone {db['timezone']} after {mine[('timezone', '')]} PATCH 200s"
            )
        for reward_id, rule in catalog.items():
            met = db["state"][rule["rule"]] >= rule["threshold"]
            if met != (reward_id in db["rewards"]):
                problems.append(
                    f"{email}: {reward_id} ({rule['rule']} >= {rule['threshold']}) "
                    f"{'met but not owned' if met else 'owned but not met'}"
                )
    return problems
