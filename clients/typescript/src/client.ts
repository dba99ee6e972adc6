// A small client of the API, written against the types generated from its
// OpenAPI document (src/schema.d.ts, made by `make client-check`). It is only
// type-checked: a schema change that would break clients like it fails CI.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Problem = components["schemas"]["Problem"];
type Me = components["schemas"]["MeOutput"];

/** A problem answer (RFC 9457), kept whole: branch on `code`, never on `detail`. */
export class ProblemError extends Error {
  constructor(
    readonly problem: Problem,
    readonly retryAfterSeconds: number | null,
  ) {
    super(`${problem.status} ${problem.code}: ${problem.detail} (request ${problem.request_id})`);
  }
}

function retryAfter(response: Response): number | null {
  const value = response.headers.get("Retry-After");
  return value === null ? null : Number(value);
}

function api(baseUrl: string, access?: string) {
  return createClient<paths>({
    baseUrl,
    headers: access === undefined ? {} : { Authorization: `Bearer ${access}` },
  });
}

/** Register, check in (safe to retry), and read the profile and state. */
export async function firstDay(baseUrl: string, email: string, password: string): Promise<Me> {
  const registered = await api(baseUrl).POST("/api/v1/auth/register", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { email, password, timezone: "Europe/Warsaw", display_name: "Ann" },
  });
  if (registered.error !== undefined) {
    if (registered.error.code === "email_taken") {
      throw new Error("This address has an account: sign in instead.");
    }
    throw new ProblemError(registered.error, retryAfter(registered.response));
  }
  const { access, refresh, user } = registered.data;
  const client = api(baseUrl, access);

  const checkinKey = crypto.randomUUID(); // the same key on every retry of this check-in
  const checkin = await client.POST("/api/v1/checkins", {
    params: { header: { "Idempotency-Key": checkinKey } },
  });
  if (checkin.error !== undefined && checkin.error.code !== "already_checked_in") {
    throw new ProblemError(checkin.error, retryAfter(checkin.response));
  }
  if (checkin.data !== undefined) {
    const replayed = checkin.response.headers.get("Idempotent-Replayed") === "true";
    const streak: number = checkin.data.streak.current;
    const unlocked: string[] = checkin.data.unlocked.map((reward) => reward.id);
    console.log({ replayed, streak, unlocked, user: user.email, refresh: refresh.length });
  }

  const me = await client.GET("/api/v1/me", {
    params: { header: { "X-Request-ID": "client-check-me" } },
  });
  if (me.error !== undefined) {
    throw new ProblemError(me.error, retryAfter(me.response));
  }
  const status: "active" | "at_risk" | "broken" = me.data.state.streak_status;
  console.log(me.data.user.timezone, status, me.response.headers.get("X-Request-ID"));
  return me.data;
}

/** Buy a tool, saying what is missing when loyalty does not cover it. */
export async function buy(baseUrl: string, access: string, toolId: string): Promise<string> {
  const bought = await api(baseUrl, access).POST("/api/v1/inventory/{tool_id}/buy", {
    params: { path: { tool_id: toolId }, header: { "Idempotency-Key": crypto.randomUUID() } },
  });
  if (bought.error === undefined) {
    return `${bought.data.item.tool.name}: ${bought.data.item.quantity} held`;
  }
  const problem = bought.error;
  if (problem.code === "insufficient_loyalty" && "price" in problem) {
    const price: number | undefined = problem.price;
    const loyalty: number | undefined = problem.loyalty;
    return `Costs ${price}, you have ${loyalty}.`;
  }
  if (problem.status === 429 || problem.status === 503) {
    throw new ProblemError(problem, retryAfter(bought.response));
  }
  throw new ProblemError(problem, null);
}

/** Move to another time zone, or say when that will be allowed. */
export async function moveTo(
  baseUrl: string,
  access: string,
  zone: components["schemas"]["TimezoneEnum"],
): Promise<string> {
  const changed = await api(baseUrl, access).PATCH("/api/v1/me", { body: { timezone: zone } });
  if (changed.error === undefined) {
    return changed.data.user.timezone;
  }
  if (changed.error.code === "timezone_change_too_soon" && "allowed_at" in changed.error) {
    return `Allowed from ${changed.error.allowed_at}`;
  }
  throw new ProblemError(changed.error, retryAfter(changed.response));
}
