import postgres from "postgres";

/**
 * B1's baseline: the least a server can do to answer `GET /api/organizations` — a bare
 * `Bun.serve` handler that runs the very SQL the organizations list service runs (as Drizzle
 * renders it, checked by the bench), through postgres.js with the same pool size, and returns the
 * same JSON bytes. No routing, auth, validation, request id or headers beyond Content-Type.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is required");
const sql = postgres(url, { max: 10, onnotice: () => {}, connection: { application_name: "orgdesk-bench-baseline" } });

export const LIST_SQL =
  'select "id", "name", "slug", "contact_name", "contact_email", "description", "billing_rate_per_agent", "currency", "is_active", "is_internal", "created_at", "updated_at", "deleted_at", (select count(*)::int from "agents" where "agents"."org_id" = "organizations"."id") from "organizations" where "organizations"."deleted_at" is null order by "organizations"."name" asc, "organizations"."id" asc limit $1';

const LIMIT = 100;

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: process.env.HOST ?? "127.0.0.1",
  async fetch() {
    const rows = await sql.unsafe(LIST_SQL, [LIMIT + 1]);
    const page = rows.slice(0, LIMIT);
    const organizations = page.map((r) => ({
      id: r.id,
      name: r.name,
      slug: r.slug,
      contact_name: r.contact_name,
      contact_email: r.contact_email,
      description: r.description,
      billing_rate_per_agent: r.billing_rate_per_agent,
      currency: r.currency,
      is_active: r.is_active,
      is_internal: r.is_internal,
      agent_count: r.count,
      created_at: (r.created_at as Date).toISOString(),
      updated_at: (r.updated_at as Date).toISOString(),
    }));
    const last = page.at(-1);
    const next_cursor = rows.length > LIMIT && last ? Buffer.from(JSON.stringify([last.name, last.id])).toString("base64url") : null;
    return new Response(JSON.stringify({ organizations, next_cursor }), { headers: { "content-type": "application/json" } });
  },
});
console.log(`Baseline listening on http://127.0.0.1:${server.port}`);
process.on("SIGTERM", async () => {
  server.stop(true);
  await sql.end({ timeout: 2 });
  process.exit(0);
});
