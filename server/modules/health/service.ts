import { ping } from "../../../db/client";
import type { Ctx } from "../../context";

/** Liveness and database reachability; public, reveals nothing else. */
export async function get({ ctx }: { ctx: Ctx }) {
  const up = await ping(ctx.db);
  return { status: up ? ("ok" as const) : ("degraded" as const), database: up ? ("up" as const) : ("down" as const) };
}
