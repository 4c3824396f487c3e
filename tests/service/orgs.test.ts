import { describe, expect, test } from "bun:test";
import { and, eq, isNull } from "drizzle-orm";
import { INTERNAL_ORG_ID, orgRatePeriods, orgStatusPeriods } from "../../db/schema";
import { agentUpdateInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import { orgCreateInput, orgUpdateInput } from "../../server/modules/orgs/schema";
import * as orgs from "../../server/modules/orgs/service";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { failure } from "../support/failures";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase();
const ctx = ctxFor(database);


const update = (input: Record<string, unknown>) => orgs.update({ ctx, input: orgUpdateInput.parse(input) });

describe("creating organizations", () => {
  test("the example of docs/api.md gives slug agenticmail and rate 99.00 with defaults filled in", async () => {
    const org = await orgs.create({ ctx, input: orgCreateInput.parse({ name: "AgenticMail", billing_rate_per_agent: 99.0 }) });
    expect(org).toMatchObject({
      name: "AgenticMail",
      slug: "agenticmail",
      billing_rate_per_agent: "99.00",
      currency: "USD",
      is_active: true,
      is_internal: false,
      agent_count: 0,
      contact_email: null,
    });
  });

  test("a generated slug that is taken gets -2, then -3", async () => {
    const a = await makeOrg(ctx, { name: "Twin Peaks" });
    const b = await makeOrg(ctx, { name: "Twin  Peaks!" });
    const c = await makeOrg(ctx, { name: "twin-peaks" });
    expect([a.slug, b.slug, c.slug]).toEqual(["twin-peaks", "twin-peaks-2", "twin-peaks-3"]);
  });

  test("a name that is a reserved word skips to -2", async () => {
    expect((await makeOrg(ctx, { name: "Settings" })).slug).toBe("settings-2");
  });

  test("a name with no ASCII yields org- and a random suffix", async () => {
    expect((await makeOrg(ctx, { name: "東京エージェント" })).slug).toMatch(/^org-[a-z0-9]{6}$/);
  });

  test("an explicit slug that is invalid is a 400 naming the field", async () => {
    for (const slug of ["Has Caps", "internal", "a--b", "", "x".repeat(65)]) {
      const err = await failure(makeOrg(ctx, { slug }));
      expect(err.code).toBe("VALIDATION");
      expect(err.errors?.[0]?.path).toBe("slug");
    }
  });

  test("a slug shaped like a UUID is refused: one equal to another organization's id could never be reached by slug", async () => {
    const other = await makeOrg(ctx);
    for (const slug of [other.id, crypto.randomUUID()]) {
      const err = await failure(makeOrg(ctx, { slug }));
      expect({ code: err.code, errors: err.errors }).toEqual({ code: "VALIDATION", errors: [{ path: "slug", message: "must not look like a UUID (it would be taken for an organization id)" }] });
    }
    // A name that would yield such a slug gets the next candidate instead.
    const named = await makeOrg(ctx, { name: other.id });
    expect(named.slug).toBe(`${other.id}-2`);
    expect((await orgs.get({ ctx, input: { id: named.slug } })).id).toBe(named.id);
  });

  test("an explicit slug that is taken is a 409", async () => {
    await makeOrg(ctx, { slug: "taken-slug" });
    const err = await failure(makeOrg(ctx, { slug: "taken-slug" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.errors?.[0]?.path).toBe("slug");
  });

  test("every invalid field is listed at once", () => {
    const result = orgCreateInput.safeParse({
      name: "   ",
      contact_email: "not-an-email",
      billing_rate_per_agent: -5,
      currency: "JPY",
      description: "x".repeat(513),
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join("."));
    expect(paths.sort()).toEqual(["billing_rate_per_agent", "contact_email", "currency", "description", "name"]);
  });

  test("created_at backdates the organization and its histories; the future is refused", async () => {
    const createdAt = new Date("2025-01-15T00:00:00Z");
    const org = await makeOrg(ctx, { created_at: createdAt.toISOString(), billing_rate_per_agent: "10" });
    expect(org.created_at).toBe(createdAt.toISOString());
    const [status] = await database.db.select().from(orgStatusPeriods).where(eq(orgStatusPeriods.orgId, org.id));
    expect(status?.startsAt.toISOString()).toBe(createdAt.toISOString());
    const err = await failure(makeOrg(ctx, { created_at: new Date(Date.now() + 3_600_000).toISOString() }));
    expect(err.errors?.[0]).toEqual({ path: "created_at", message: "must not be in the future" });
  });
});

describe("reading organizations", () => {
  test("get works by id and by slug, with current agents", async () => {
    const org = await makeOrg(ctx, { name: "Readable" });
    const agent = await makeAgent(ctx, { org_id: org.slug });
    const byId = await orgs.get({ ctx, input: { id: org.id } });
    const bySlug = await orgs.get({ ctx, input: { id: org.slug } });
    expect(bySlug).toEqual(byId);
    expect(byId.agent_count).toBe(1);
    expect(byId.agents.map((a) => a.id)).toEqual([agent.id]);
  });

  test("an unknown id or slug is NOT_FOUND", async () => {
    expect((await failure(orgs.get({ ctx, input: { id: crypto.randomUUID() } }))).code).toBe("NOT_FOUND");
    expect((await failure(orgs.get({ ctx, input: { id: "no-such-org" } }))).code).toBe("NOT_FOUND");
  });

  test("list searches name, slug and contact email, filters status and pages by cursor", async () => {
    const tag = `zz${Date.now().toString(36)}`;
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await makeOrg(ctx, { name: `${tag} client ${i}`, contact_email: `ops${i}@${tag}.example` }));
    await orgs.toggle({ ctx, input: { id: made[0]!.id, is_active: false } });
    const page1 = await orgs.list({ ctx, input: { q: tag, limit: 2 } });
    expect(page1.organizations.map((o) => o.name)).toEqual([`${tag} client 0`, `${tag} client 1`]);
    const page2 = await orgs.list({ ctx, input: { q: tag, limit: 2, cursor: page1.next_cursor! } });
    const page3 = await orgs.list({ ctx, input: { q: tag, limit: 2, cursor: page2.next_cursor! } });
    expect([...page2.organizations, ...page3.organizations].map((o) => o.name)).toEqual([2, 3, 4].map((i) => `${tag} client ${i}`));
    expect(page3.next_cursor).toBeNull();
    expect((await orgs.list({ ctx, input: { q: `ops3@${tag}`, limit: 100 } })).organizations).toHaveLength(1);
    expect((await orgs.list({ ctx, input: { q: tag, status: "inactive", limit: 100 } })).organizations.map((o) => o.id)).toEqual([made[0]!.id]);
    expect((await orgs.list({ ctx, input: { q: tag, status: "active", limit: 100 } })).organizations).toHaveLength(4);
  });

  test("a listed organization is exactly the organization read by get: every field, its type and its agent count", async () => {
    const tag = `fields${Date.now().toString(36)}`;
    const full = await makeOrg(ctx, { name: `${tag} full`, contact_name: "Ada", contact_email: `ada@${tag}.example`, description: "Both texts set", billing_rate_per_agent: "149.50", currency: "EUR" });
    await makeAgent(ctx, { org_id: full.id });
    await makeAgent(ctx, { org_id: full.id });
    const bare = await makeOrg(ctx, { name: `${tag} bare` });
    await orgs.toggle({ ctx, input: { id: bare.id, is_active: false } });
    const listed = (await orgs.list({ ctx, input: { q: tag, limit: 100 } })).organizations;
    expect(listed.map((o) => o.id)).toEqual([bare.id, full.id]);
    for (const org of listed) {
      const { agents: _, ...read } = await orgs.get({ ctx, input: { id: org.id } });
      expect(org).toEqual(read);
    }
    expect(listed[1]).toMatchObject({ billing_rate_per_agent: "149.50", currency: "EUR", contact_name: "Ada", agent_count: 2, is_active: true });
    expect(listed[0]).toMatchObject({ description: null, contact_email: null, agent_count: 0, is_active: false, is_internal: false });
    expect(listed[1]!.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("search treats % and _ literally", async () => {
    await makeOrg(ctx, { name: "Percent 100% Co" });
    const result = await orgs.list({ ctx, input: { q: "100%", limit: 100 } });
    expect(result.organizations.map((o) => o.name)).toEqual(["Percent 100% Co"]);
  });

  test("the internal organization always exists", async () => {
    const internal = await orgs.get({ ctx, input: { id: "internal" } });
    expect(internal.id).toBe(INTERNAL_ORG_ID);
    expect(internal.is_internal).toBe(true);
  });
});

describe("updating organizations", () => {
  test("the slug is immutable: a PATCH that changes it is a 400 naming the field and changes nothing", async () => {
    const org = await makeOrg(ctx, { name: "Fixed Slug Co", slug: "fixed-slug-co" });
    const err = await failure(update({ id: org.id, slug: "new-slug", description: "changed" }));
    expect(err.code).toBe("VALIDATION");
    expect(err.errors).toEqual([{ path: "slug", message: "cannot be changed after creation" }]);
    expect(await orgs.get({ ctx, input: { id: org.id } })).toMatchObject({ slug: "fixed-slug-co", description: null });
    // A malformed slug or other fixed fields are refused by the schema alike.
    const result = orgUpdateInput.safeParse({ id: "x", slug: 42, is_active: false });
    expect(result.error!.issues.map((i) => i.path.join(".")).sort()).toEqual(["is_active", "slug"]);
  });

  test("a PATCH that repeats the current slug is a no-op for the slug (clients send back what they read)", async () => {
    const org = await makeOrg(ctx, { name: "Echo Slug Co" });
    const updated = await update({ id: org.id, slug: org.slug, description: "sent back with its slug" });
    expect(updated).toMatchObject({ slug: org.slug, description: "sent back with its slug" });
    // By slug too, and with nothing else: nothing changes, nothing is audited.
    expect(await update({ id: org.slug, slug: org.slug })).toMatchObject({ slug: org.slug });
  });

  test("a rate change closes the old rate period and opens a new one, never retroactively", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: 50, created_at: "2025-01-01T00:00:00Z" });
    const updated = await update({ id: org.id, billing_rate_per_agent: "75.5", effective_at: "2025-03-01T00:00:00Z" });
    expect(updated.billing_rate_per_agent).toBe("75.50");
    const periods = await database.db.select().from(orgRatePeriods).where(eq(orgRatePeriods.orgId, org.id)).orderBy(orgRatePeriods.startsAt);
    expect(periods.map((p) => [p.rate, p.startsAt.toISOString(), p.endsAt?.toISOString() ?? null])).toEqual([
      ["50.00", "2025-01-01T00:00:00.000Z", "2025-03-01T00:00:00.000Z"],
      ["75.50", "2025-03-01T00:00:00.000Z", null],
    ]);
  });

  test("a backdated rate change before the last change is refused and changes nothing", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: 50, created_at: "2025-01-01T00:00:00Z" });
    await update({ id: org.id, billing_rate_per_agent: 60, effective_at: "2025-02-01T00:00:00Z" });
    const err = await failure(update({ id: org.id, billing_rate_per_agent: 70, effective_at: "2025-01-15T00:00:00Z" }));
    expect(err.errors?.[0]?.path).toBe("effective_at");
    expect(err.message).toBe("effective_at: must not be before the organization's last rate change (2025-02-01T00:00:00.000Z)");
    expect((await orgs.get({ ctx, input: { id: org.id } })).billing_rate_per_agent).toBe("60.00");
    const open = await database.db.select().from(orgRatePeriods).where(and(eq(orgRatePeriods.orgId, org.id), isNull(orgRatePeriods.endsAt)));
    expect(open.map((p) => p.rate)).toEqual(["60.00"]);
  });

  test("effective_at without a rate change is refused", async () => {
    const org = await makeOrg(ctx);
    const err = await failure(update({ id: org.id, name: "Renamed", effective_at: "2025-01-01T00:00:00Z" }));
    expect(err.errors?.[0]?.path).toBe("effective_at");
  });

  test("the internal organization cannot get a billing rate", async () => {
    const err = await failure(update({ id: "internal", billing_rate_per_agent: 5 }));
    expect(err.errors?.[0]?.path).toBe("billing_rate_per_agent");
  });

  test("currency can change until the organization has history, then it is a 409", async () => {
    const org = await makeOrg(ctx, { currency: "USD" });
    expect((await update({ id: org.id, currency: "EUR" })).currency).toBe("EUR");
    const agent = await makeAgent(ctx, { org_id: org.id });
    await agents.unassign({ ctx, input: { id: agent.id } });
    const err = await failure(update({ id: org.id, currency: "GBP" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.errors?.[0]?.path).toBe("currency");
  });

  test("clearing optional text with an empty string stores null", async () => {
    const org = await makeOrg(ctx, { contact_name: "Ada", contact_email: "ada@example.com" });
    const updated = await update({ id: org.id, contact_name: "", contact_email: "" });
    expect(updated.contact_name).toBeNull();
    expect(updated.contact_email).toBeNull();
  });
});

describe("activating and deactivating", () => {
  test("toggle without a value flips; an explicit value sets and is idempotent", async () => {
    const org = await makeOrg(ctx);
    expect(await orgs.toggle({ ctx, input: { id: org.id } })).toEqual({ id: org.id, is_active: false });
    expect(await orgs.toggle({ ctx, input: { id: org.id, is_active: false } })).toEqual({ id: org.id, is_active: false });
    expect(await orgs.toggle({ ctx, input: { id: org.id } })).toEqual({ id: org.id, is_active: true });
    const periods = await database.db.select().from(orgStatusPeriods).where(eq(orgStatusPeriods.orgId, org.id));
    expect(periods.map((p) => p.isActive).sort()).toEqual([false, true, true]);
  });

  test("deactivation suspends agents without touching agent rows; reactivation restores exactly", async () => {
    const org = await makeOrg(ctx);
    const active = await makeAgent(ctx, { org_id: org.id });
    const archived = await makeAgent(ctx, { org_id: org.id });
    await agents.update({ ctx, input: agentUpdateInput.parse({ id: archived.id, status: "archived" }) });
    const before = await orgs.get({ ctx, input: { id: org.id } });
    await orgs.toggle({ ctx, input: { id: org.id, is_active: false } });
    const during = await orgs.get({ ctx, input: { id: org.id } });
    expect(during.agents.map((a) => a.effective_status)).toEqual(["suspended", "suspended"]);
    expect(during.agents.map((a) => [a.status, a.updated_at])).toEqual(before.agents.map((a) => [a.status, a.updated_at]));
    await orgs.toggle({ ctx, input: { id: org.id, is_active: true } });
    const after = await orgs.get({ ctx, input: { id: org.id } });
    expect(Object.fromEntries(after.agents.map((a) => [a.id, a.effective_status]))).toEqual({ [active.id]: "active", [archived.id]: "archived" });
  });

  test("the internal organization cannot be deactivated", async () => {
    const err = await failure(orgs.toggle({ ctx, input: { id: "internal" } }));
    expect(err.code).toBe("CONFLICT");
  });
});

describe("deleting organizations", () => {
  test("an organization with agents cannot be deleted, with a clear message", async () => {
    const org = await makeOrg(ctx);
    await makeAgent(ctx, { org_id: org.id });
    const err = await failure(orgs.delete({ ctx, input: { id: org.id } }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toBe("The organization still has 1 agent; move or unassign it first");
  });

  test("an empty organization is deleted, disappears, and frees its slug", async () => {
    const org = await makeOrg(ctx, { slug: "short-lived" });
    expect(await orgs.delete({ ctx, input: { id: "short-lived" } })).toEqual({ success: true, id: org.id, slug: "short-lived" });
    expect((await failure(orgs.get({ ctx, input: { id: org.id } }))).code).toBe("NOT_FOUND");
    expect((await failure(orgs.delete({ ctx, input: { id: org.id } }))).code).toBe("NOT_FOUND");
    const again = await makeOrg(ctx, { slug: "short-lived" });
    expect(again.id).not.toBe(org.id);
  });

  test("the internal organization cannot be deleted", async () => {
    const err = await failure(orgs.delete({ ctx, input: { id: INTERNAL_ORG_ID } }));
    expect(err.code).toBe("CONFLICT");
  });
});

describe("agent counts", () => {
  test("list and get report the number of agents currently in each organization", async () => {
    const org = await makeOrg(ctx, { name: "Counted Co" });
    await makeAgent(ctx, { org_id: org.id });
    await makeAgent(ctx, { org_id: org.id });
    const moved = await makeAgent(ctx, { org_id: org.id });
    await agents.unassign({ ctx, input: { id: moved.id } });
    const listed = await orgs.list({ ctx, input: { q: "Counted Co", limit: 10 } });
    expect(listed.organizations.map((o) => o.agent_count)).toEqual([2]);
    expect((await orgs.get({ ctx, input: { id: org.id } })).agent_count).toBe(2);
  });
});
