import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Database, migrate, MIGRATIONS_DIR, openPglite, openPostgres, rows } from "../../db/client";
import { claimDue } from "../../server/modules/webhooks/service";
import { ADMIN_URL, TEST_DB_KIND, urlFor } from "../support/db";
import { sqlstate } from "../support/failures";

/**
 * A database with data from before migrations 0008–0009 (the per-organization agent names, the
 * slug rule, the request counters) migrates without losing or refusing anything: rows valid under
 * the old constraints are valid under the new ones, and an existing UUID-shaped slug is renamed.
 */
const BEFORE = "0007_drop-day-rollups";

/** The committed migrations up to and including `last`, in a folder of their own. */
function migrationsUpTo(last: string): string {
  const dir = mkdtempSync(join(tmpdir(), "orgdesk-migrations-"));
  mkdirSync(join(dir, "meta"));
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta/_journal.json"), "utf8"));
  const end = journal.entries.findIndex((e: { tag: string }) => e.tag === last);
  expect(end).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, end + 1);
  writeFileSync(join(dir, "meta/_journal.json"), JSON.stringify(journal));
  for (const e of journal.entries) copyFileSync(join(MIGRATIONS_DIR, `${e.tag}.sql`), join(dir, `${e.tag}.sql`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function emptyDatabase(suffix = "migrations"): Promise<Database> {
  if (TEST_DB_KIND === "pglite") {
    const database = await openPglite();
    afterAll(() => database.close());
    return database;
  }
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const name = `orgdesk_t_${process.pid}_${suffix}`;
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.unsafe(`create database "${name}"`);
  const database = openPostgres(urlFor(name), { max: 2 });
  afterAll(async () => {
    await database.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  return { ...database, url: urlFor(name) };
}

describe("migrating a database that has data", () => {
  test("names per organization, the slug rule and the request counters keep every row", async () => {
    const database = await emptyDatabase();
    const db = database.db;
    await migrate(database, migrationsUpTo(BEFORE));
    expect(readdirSync(MIGRATIONS_DIR).some((f) => f.startsWith("0009_"))).toBe(true);

    // Valid before: a UUID-shaped slug; archived agents sharing an active agent's name, in its
    // organization and in another; a sign-in counter.
    const [uuidOrg] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Uuid Slug Co', '0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a') returning id::text as id`);
    const [other] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Plain Co', 'plain-co') returning id::text as id`);
    await db.execute(sql`insert into agents (name, email, status, org_id) values
      ('Scout', 'scout@example.test', 'active', ${uuidOrg!.id}::uuid),
      ('scout', 'old-scout@example.test', 'archived', ${uuidOrg!.id}::uuid),
      ('SCOUT', null, 'archived', ${other!.id}::uuid)`);
    await db.execute(sql`insert into login_throttle (key, window_start, failures) values ('account:someone@example.test', now(), 3)`);

    await migrate(database);

    const [renamed] = await rows<{ slug: string }>(db, sql`select slug from organizations where id = ${uuidOrg!.id}::uuid`);
    expect(renamed!.slug).toBe("org-0e8f8c4a1b2c4d3e8f9a0b1c2d3e4f5a");
    const agents = await rows<{ name: string; status: string }>(db, sql`select name, status from agents order by name collate "C"`);
    expect(agents).toEqual([
      { name: "SCOUT", status: "archived" },
      { name: "Scout", status: "active" },
      { name: "scout", status: "archived" },
    ]);
    expect(await rows(db, sql`select key, hits from request_counters`)).toEqual([{ key: "account:someone@example.test", hits: 3 }]);

    // The new rules hold from now on.
    expect(await sqlstate(db.execute(sql`insert into organizations (name, slug) values ('Bad', '0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5b')`))).toBe("23514");
    expect(await sqlstate(db.execute(sql`insert into agents (name, org_id) values ('sCOUT', ${uuidOrg!.id}::uuid)`))).toBe("23505");
    expect(await sqlstate(db.execute(sql`insert into agents (name, email, org_id) values ('Scout', 'scout@example.test', ${other!.id}::uuid)`))).toBe("no error");
  }, 120_000);
});

describe("partitioning usage_events by month (0018)", () => {
  test("existing events move into monthly partitions unchanged, their ids are registered, and every constraint and index still holds", async () => {
    const database = await emptyDatabase("partitions");
    const db = database.db;
    await migrate(database, migrationsUpTo("0017_unpriced-model-notices"));
    const [org] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Partition Co', 'partition-co') returning id::text as id`);
    const [agent] = await rows<{ id: string }>(db, sql`insert into agents (name, org_id) values ('Parted', ${org!.id}::uuid) returning id::text as id`);
    const ev = (id: string, at: string, cost: string | null, fromEvent = false) =>
      sql`(${id}, ${agent!.id}::uuid, ${org!.id}::uuid, 'gpt-4o', 'openai', 100, 20, 5, 0, ${cost}::numeric, ${fromEvent}, ${at}::timestamptz, '2025-07-01T00:00:00Z', ${`hash-${id}`})`;
    await db.execute(sql`insert into usage_events (id, agent_id, org_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_from_event, occurred_at, received_at, content_hash)
      values ${sql.join([ev("may-1", "2025-05-31T23:59:59.999Z", "0.000450000000000000"), ev("jun-1", "2025-06-01T00:00:00Z", null), ev("jun-2", "2025-06-30T12:00:00Z", "0.12", true)], sql`, `)}`);
    const dump = () =>
      rows(db, sql`select id, agent_id::text, org_id::text, model, provider, input_tokens::text, output_tokens::text, cache_read_tokens::text, cache_write_tokens::text,
                          cost_usd::text, cost_from_event, occurred_at::text, received_at::text, content_hash from usage_events order by id`);
    const before = await dump();

    await migrate(database);

    expect(await dump()).toEqual(before);
    const parts = await rows<{ id: string; part: string }>(db, sql`select id, tableoid::regclass::text as part from usage_events order by id`);
    expect(parts).toEqual([
      { id: "jun-1", part: "usage_events_p202506" },
      { id: "jun-2", part: "usage_events_p202506" },
      { id: "may-1", part: "usage_events_p202505" },
    ]);
    const [kind] = await rows<{ relkind: string }>(db, sql`select relkind::text from pg_class where relname = 'usage_events'`);
    expect(kind!.relkind).toBe("p");
    const current = new Date().toISOString().slice(0, 7).replace("-", "");
    const names = (await rows<{ name: string }>(db, sql`select c.relname::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'usage_events'::regclass`)).map((r) => r.name);
    expect(names).toContain(`usage_events_p${current}`);
    expect(names.length).toBe(4);
    expect(await rows(db, sql`select id, occurred_at::text from usage_event_ids order by id`)).toEqual(before.map((r: any) => ({ id: r.id, occurred_at: r.occurred_at })));
    // Each partition has the parent's key and indexes.
    const indexes = (await rows<{ name: string }>(db, sql`select indexname::text as name from pg_indexes where tablename = 'usage_events_p202506' order by 1`)).map((r) => r.name);
    expect(indexes.length).toBe(3);
    expect(indexes.some((n) => n.endsWith("pkey"))).toBe(true);
    // Checks, foreign keys and the key still refuse what they refused.
    const insert = (id: string, agentId: string, tokens: number, at = "2025-06-05T00:00:00Z") =>
      db.execute(sql`insert into usage_events (id, agent_id, org_id, model, input_tokens, output_tokens, cost_from_event, occurred_at, content_hash)
                     values (${id}, ${agentId}::uuid, ${org!.id}::uuid, 'gpt-4o', ${tokens}, 1, false, ${at}::timestamptz, 'h')`);
    expect(await sqlstate(insert("neg", agent!.id, -1))).toBe("23514");
    expect(await sqlstate(insert("nobody", crypto.randomUUID(), 1))).toBe("23503");
    expect(await sqlstate(insert("jun-1", agent!.id, 1, "2025-06-01T00:00:00Z"))).toBe("23505");
    expect(await sqlstate(db.execute(sql`insert into usage_event_ids (id, occurred_at) values ('may-1', '2025-06-09T00:00:00Z')`))).toBe("23505");
    expect(await sqlstate(db.execute(sql`select usage_events_ensure_partition('2025-06-02')`))).toBe("P0001");
  }, 120_000);
});

describe("webhook deliveries as their own queue entries (0024)", () => {
  test("delivery attempts queued as jobs carry over to their deliveries, none is lost, and the jobs go", async () => {
    const database = await emptyDatabase("delivery_claims");
    const db = database.db;
    await migrate(database, migrationsUpTo("0023_usage-deltas-references"));
    const [endpoint] = await rows<{ id: string }>(db, sql`insert into webhook_endpoints (url, secret_sealed) values ('https://hooks.example.com/x', 'sealed') returning id::text as id`);
    await db.execute(sql`insert into webhook_events (id, type, body) values ('msg_1', 'organization.created', '{}')`);
    const delivery = async (status: string, next: string | null) =>
      (await rows<{ id: string }>(
        db,
        sql`insert into webhook_deliveries (event_id, endpoint_id, status, attempt_count, next_attempt_at)
            values ('msg_1', ${endpoint!.id}::uuid, ${status}, 1, ${next}::timestamptz) returning id::text as id`,
      ))[0]!.id;
    // A first attempt due, a retry scheduled for later, a manual retry, one being sent by an instance
    // of the earlier version (its claim's lease still running), one whose job gave up, one settled.
    const due = await delivery("pending", "2026-01-01T00:00:00Z");
    const later = await delivery("pending", "2999-01-01T00:00:00Z");
    const manual = await delivery("pending", "2026-01-01T00:00:00Z");
    const sending = await delivery("pending", "2026-01-01T00:00:00Z");
    const gaveUp = await delivery("pending", "2026-01-01T00:00:00Z");
    const settled = await delivery("succeeded", null);
    const job = (id: string, state: string, runAt: string, extra: Record<string, unknown> = {}, claim: string | null = null, lockedUntil: string | null = null) =>
      sql`('webhook.deliver', ${JSON.stringify({ delivery_id: id, ...extra })}::jsonb, ${state}, ${runAt}::timestamptz, ${state === "queued" ? id : null}, ${claim}::uuid, ${lockedUntil}::timestamptz)`;
    const claim = crypto.randomUUID();
    await db.execute(sql`insert into jobs (kind, payload, state, run_at, key, claim, locked_until) values ${sql.join(
      [
        job(due, "queued", "2026-01-01T00:00:00Z"),
        job(later, "queued", "2999-01-01T00:00:00Z"),
        job(manual, "queued", "2026-02-01T00:00:00Z", { manual: true }),
        job(sending, "running", "2026-01-01T00:00:00Z", {}, claim, "2999-06-01T00:00:00Z"),
        job(gaveUp, "failed", "2026-01-01T00:00:00Z"),
        job(settled, "queued", "2026-01-01T00:00:00Z"),
      ],
      sql`, `,
    )}`);
    await db.execute(sql`insert into jobs (kind, payload) values ('jobs.prune', '{}')`);

    await migrate(database);

    const after = await rows<{ id: string; status: string; next: string | null; claim_token: string | null; claimed_until: string | null; manual_attempt: boolean }>(
      db,
      sql`select id::text, status, to_char(next_attempt_at at time zone 'UTC', 'YYYY-MM-DD') as next, claim_token::text, to_char(claimed_until at time zone 'UTC', 'YYYY-MM-DD') as claimed_until, manual_attempt
            from webhook_deliveries`,
    );
    const of = (id: string) => after.find((r) => r.id === id);
    expect(of(due)).toMatchObject({ status: "pending", next: "2026-01-01", claim_token: null, manual_attempt: false });
    expect(of(later)).toMatchObject({ status: "pending", next: "2999-01-01", claim_token: null });
    expect(of(manual)).toMatchObject({ status: "pending", next: "2026-02-01", manual_attempt: true });
    expect(of(sending)).toMatchObject({ status: "pending", claim_token: claim, claimed_until: "2999-06-01" });
    expect(of(gaveUp)).toMatchObject({ status: "pending", next: "2026-01-01", claim_token: null });
    expect(of(settled)).toMatchObject({ status: "succeeded", next: null, claim_token: null });
    expect(await rows(db, sql`select kind from jobs order by kind`)).toEqual([{ kind: "jobs.prune" }]);

    // What is due is what the runner claims: every pending delivery whose time has come and that no live claim holds.
    const claimed = await claimDue(db, { token: crypto.randomUUID(), leaseMs: 60_000 });
    expect(claimed!.batch.deliveries.map((d) => d.id).sort()).toEqual([due, manual, gaveUp].sort());
  }, 120_000);
});

describe("request counters unlogged (0026)", () => {
  test("the counters keep their rows, the table is unlogged, and counting still works", async () => {
    const database = await emptyDatabase("counters_unlogged");
    const db = database.db;
    await migrate(database, migrationsUpTo("0025_webhook-due-unclaimed"));
    await db.execute(sql`insert into request_counters (key, window_start, hits) values ('api-key:abc', now(), 7)`);
    const persistence = async () => (await rows<{ p: string }>(db, sql`select relpersistence as p from pg_class where relname = 'request_counters' and relkind = 'r'`))[0]!.p;
    expect(await persistence()).toBe("p");

    await migrate(database);

    expect(await persistence()).toBe("u");
    expect(await rows(db, sql`select key, hits from request_counters`)).toEqual([{ key: "api-key:abc", hits: 7 }]);
    await db.execute(sql`insert into request_counters (key, window_start, hits) values ('api-key:abc', now(), 1)
                         on conflict (key) do update set hits = request_counters.hits + excluded.hits`);
    expect(await rows(db, sql`select hits from request_counters`)).toEqual([{ hits: 8 }]);
  }, 120_000);
});
