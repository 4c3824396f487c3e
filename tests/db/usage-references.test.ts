import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { event, ingest } from "../support/billing";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { sqlstate } from "../support/failures";

/**
 * usage_events has no per-row foreign keys: one statement-level check key-share locks the agents
 * and organizations a statement writes and refuses a missing one, and triggers on agents and
 * organizations refuse deleting one that has usage (migration 0021, docs/decisions.md "Partitioned
 * usage events"). These tests hold that the references stay as strict as the foreign keys were.
 */
const database = await testDatabase({ max: 8 });
const ctx = ctxFor(database);
const db = database.db;
const BEFORE = "2025-05-01T00:00:00Z";
await db.execute(sql`select usage_events_ensure_partition('2025-06-01')`);

/** An organization and an agent referenced by nothing else, so only usage can stop their deletion. */
async function bareOrgAndAgent() {
  const [o] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Bare', ${`bare-${crypto.randomUUID().slice(0, 8)}`}) returning id::text`);
  const [a] = await rows<{ id: string }>(db, sql`insert into agents (name, org_id) values (${`Bare agent ${crypto.randomUUID()}`}, ${o!.id}::uuid) returning id::text`);
  return { orgId: o!.id, agentId: a!.id };
}

const insertEvent = (exec: { execute: typeof db.execute }, id: string, agentId: string, orgId: string) =>
  exec.execute(sql`insert into usage_events (id, agent_id, org_id, model, input_tokens, output_tokens, cost_from_event, occurred_at, content_hash)
                   values (${id}, ${agentId}::uuid, ${orgId}::uuid, 'gpt-4o', 1, 1, false, '2025-06-05T00:00:00Z', 'h')`);

const orphans = async () =>
  (
    await rows<{ n: string }>(
      db,
      sql`select count(*)::text as n from usage_events e
          where not exists (select 1 from agents a where a.id = e.agent_id) or not exists (select 1 from organizations o where o.id = e.org_id)`,
    )
  )[0]!.n;

test("an event naming an agent or organization that does not exist is refused, in a batch of good ones too", async () => {
  const { orgId, agentId } = await bareOrgAndAgent();
  expect(await sqlstate(insertEvent(db, "ref-ghost-agent", crypto.randomUUID(), orgId))).toBe("23503");
  expect(await sqlstate(insertEvent(db, "ref-ghost-org", agentId, crypto.randomUUID()))).toBe("23503");
  const many = sql.join(
    Array.from({ length: 50 }, (_, i) => sql`(${`ref-many-${i}`}, ${i === 37 ? crypto.randomUUID() : agentId}::uuid, ${orgId}::uuid, 'gpt-4o', 1, 1, false, '2025-06-05T00:00:00Z', 'h')`),
    sql`, `,
  );
  expect(
    await sqlstate(db.execute(sql`insert into usage_events (id, agent_id, org_id, model, input_tokens, output_tokens, cost_from_event, occurred_at, content_hash) values ${many}`)),
  ).toBe("23503");
  expect(await sqlstate(insertEvent(db, "ref-ok", agentId, orgId))).toBe("no error");
  expect(await sqlstate(db.execute(sql`update usage_events set org_id = ${crypto.randomUUID()}::uuid where id = 'ref-ok'`))).toBe("23503");
  expect(await rows(db, sql`select id from usage_events where agent_id = ${agentId}::uuid`)).toEqual([{ id: "ref-ok" }]);
  expect(await orphans()).toBe("0");
});

test("an agent or organization with usage cannot be deleted; one without can", async () => {
  const used = await bareOrgAndAgent();
  await insertEvent(db, "ref-used", used.agentId, used.orgId);
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${used.agentId}::uuid`))).toBe("23503");
  // The agent row no longer references the organization: only its usage does.
  const other = await bareOrgAndAgent();
  await db.execute(sql`update agents set org_id = ${other.orgId}::uuid where id = ${used.agentId}::uuid`);
  expect(await sqlstate(db.execute(sql`delete from organizations where id = ${used.orgId}::uuid`))).toBe("23503");
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${other.agentId}::uuid`))).toBe("no error");
  expect(await orphans()).toBe("0");
});

test("events ingested through the service keep their agent and organization undeletable", async () => {
  const org = await makeOrg(ctx, { created_at: BEFORE });
  const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
  const result = await ingest(ctx, [event(agent.id, { id: "ref-service-1", occurred_at: "2025-06-10T00:00:00Z" })]);
  expect(result.accepted).toBe(1);
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${agent.id}::uuid`))).toBe("23503");
  expect(await sqlstate(db.execute(sql`delete from organizations where id = ${org.id}::uuid`))).toBe("23503");
  expect(await rows(db, sql`select org_id::text from usage_events where id = 'ref-service-1'`)).toEqual([{ org_id: org.id }]);
});

const insertDelta = (id: string, agentId: string, orgId: string) =>
  db.execute(sql`insert into usage_month_deltas (org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
                 values (${orgId}::uuid, ${agentId}::uuid, ${id}, '2025-06-01', 1, 0, 1, 1, 0, 0, 0)`);

test("rollup deltas are held to the same references, checked once per statement (migration 0023)", async () => {
  const { orgId, agentId } = await bareOrgAndAgent();
  expect(await sqlstate(insertDelta("ref-delta-ghost-agent", crypto.randomUUID(), orgId))).toBe("23503");
  expect(await sqlstate(insertDelta("ref-delta-ghost-org", agentId, crypto.randomUUID()))).toBe("23503");
  expect(await sqlstate(insertDelta("ref-delta-ok", agentId, orgId))).toBe("no error");
  expect(await sqlstate(db.execute(sql`update usage_month_deltas set agent_id = ${crypto.randomUUID()}::uuid where model = 'ref-delta-ok'`))).toBe("23503");
  // A pending delta alone (no event) keeps its agent and organization, as the foreign keys did.
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${agentId}::uuid`))).toBe("23503");
  await db.execute(sql`update agents set org_id = (select org_id from agents where id <> ${agentId}::uuid limit 1) where id = ${agentId}::uuid`);
  expect(await sqlstate(db.execute(sql`delete from organizations where id = ${orgId}::uuid`))).toBe("23503");
  await db.execute(sql`delete from usage_month_deltas where model = 'ref-delta-ok'`);
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${agentId}::uuid`))).toBe("no error");
  expect(await sqlstate(db.execute(sql`delete from organizations where id = ${orgId}::uuid`))).toBe("no error");
});

test("a delete of an agent or organization at repeatable read is refused, usage or not (its snapshot could miss a concurrent batch)", async () => {
  const { orgId, agentId } = await bareOrgAndAgent();
  for (const [table, id] of [["agents", agentId], ["organizations", orgId]] as const) {
    const attempt = db.transaction(async (tx) => {
      await tx.execute(sql`set transaction isolation level repeatable read`);
      await tx.execute(sql`delete from ${sql.raw(table)} where id = ${id}::uuid`);
    });
    expect(await sqlstate(attempt)).toBe("0A000");
  }
  expect(await sqlstate(db.execute(sql`delete from agents where id = ${agentId}::uuid`))).toBe("no error");
  expect(await sqlstate(db.execute(sql`delete from organizations where id = ${orgId}::uuid`))).toBe("no error");
});

/** Waits until some session of this database waits on a lock. */
async function someoneWaits() {
  for (let i = 0; i < 200; i++) {
    const [row] = await rows<{ n: string }>(db, sql`select count(*)::text as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
    if (row!.n !== "0") return;
    await Bun.sleep(25);
  }
  throw new Error("no session started waiting on a lock");
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe.skipIf(TEST_DB_KIND !== "postgres")("a delete concurrent with ingestion leaves no orphan", () => {
  for (const parent of ["agents", "organizations"] as const) {
    test(`a delete of ${parent} waiting for an uncommitted insert is refused once it commits`, async () => {
      const { orgId, agentId } = await bareOrgAndAgent();
      const spare = await bareOrgAndAgent();
      // For an organization, its agent moves away first: only the event can then stop the delete.
      if (parent === "organizations") await db.execute(sql`update agents set org_id = ${spare.orgId}::uuid where id = ${agentId}::uuid`);
      const target = parent === "agents" ? agentId : orgId;
      const g = gate();
      const writer = db.transaction(async (tx) => {
        await insertEvent(tx, `ref-race-insert-${parent}`, parent === "agents" ? agentId : spare.agentId, parent === "agents" ? spare.orgId : orgId);
        await g.opened;
      });
      await Bun.sleep(100);
      const deleter = sqlstate(db.execute(sql`delete from ${sql.raw(parent)} where id = ${target}::uuid`));
      await someoneWaits();
      g.open();
      await writer;
      expect(await deleter).toBe("23503");
      expect(await orphans()).toBe("0");
    });

    test(`an insert waiting for an uncommitted delete of ${parent} is refused once it commits`, async () => {
      const { orgId, agentId } = await bareOrgAndAgent();
      const spare = await bareOrgAndAgent();
      const g = gate();
      const deleter = db.transaction(async (tx) => {
        if (parent === "agents") await tx.execute(sql`delete from agents where id = ${agentId}::uuid`);
        else {
          await tx.execute(sql`update agents set org_id = ${spare.orgId}::uuid where id = ${agentId}::uuid`);
          await tx.execute(sql`delete from organizations where id = ${orgId}::uuid`);
        }
        await g.opened;
      });
      await Bun.sleep(100);
      const writer = sqlstate(insertEvent(db, `ref-race-delete-${parent}`, parent === "agents" ? agentId : spare.agentId, parent === "agents" ? spare.orgId : orgId));
      await someoneWaits();
      g.open();
      await deleter;
      expect(await writer).toBe("23503");
      expect(await orphans()).toBe("0");
    });
  }
});
