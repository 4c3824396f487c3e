import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { Page } from "playwright-core";
import { rows } from "../../db/client";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi, textOf } from "./support/flows";

/**
 * Settings → Integrations (docs/integrations.md, "Integrations page"), against the real server: the
 * snippets carry this server's address and copy exactly what they show; each source's row counts
 * what the API and the OTLP endpoint received; an unattributed span is billed to an agent from
 * the page. The bulk import upload has its own file (integrations-upload.test.ts).
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
const org = (await app.api.post("/api/organizations", { name: "Northwind Support", billing_rate_per_agent: "90.00", created_at: "2025-01-01T00:00:00Z" })).body;
const agent = (await app.api.post("/api/agents", { name: "Ticket Bot", org_id: org.id, external_id: "ticket-bot", created_at: "2025-01-01T00:00:00Z" })).body;
let page: Page;
let errors: string[];

const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
const cell = (source: string, field: string) => textOf(page, `[data-testid=source-stats] li[data-source=${source}] [data-field=${field}]`);

describe("the Integrations page", () => {
  test("shows copy-paste configuration with this server's address; Copy copies exactly the block", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    errors = watchErrors(page);
    // What the page hands the clipboard, recorded beside the real call.
    await page.addInitScript(() => {
      const w = window as unknown as { copied: string[] };
      w.copied = [];
      const write = navigator.clipboard?.writeText?.bind(navigator.clipboard);
      Object.defineProperty(navigator, "clipboard", { value: { writeText: async (t: string) => (w.copied.push(t), write?.(t).catch(() => {})) }, configurable: true });
    });
    await signInThroughUi(page, app.base, owner.email, owner.password, "/settings/integrations");
    await page.getByRole("link", { name: "Integrations" }).waitFor();
    await page.waitForSelector("[data-testid=snippet-otel]");
    expect(await textOf(page, "[data-testid=base-url]")).toBe(app.base);
    const otel = await textOf(page, "#snippet-otel-text");
    expect(otel).toContain(`OTEL_EXPORTER_OTLP_ENDPOINT=${app.base}/api/otel`);
    expect(otel).toContain('OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer odk_your_usage_key"');
    expect(await textOf(page, "#snippet-litellm-text")).toContain(`endpoint: ${app.base}/api/integrations/litellm`);
    expect(await textOf(page, "#snippet-api-text")).toContain(`curl -X POST ${app.base}/api/usage`);

    await page.click("[data-testid=copy-snippet-litellm-text]");
    await page.waitForSelector("[data-toast]");
    const copied = await page.evaluate(() => (window as unknown as { copied: string[] }).copied);
    expect(copied).toEqual([await page.locator("#snippet-litellm-text").innerText()]);
    expect(copied[0]).toContain('callbacks: ["generic_api"]');
  }, 30_000);

  test("each source shows its last event and the counts of the last 24 hours", async () => {
    for (const source of ["api", "otlp", "litellm", "import"]) expect(await cell(source, "last")).toBe("Never");
    const id = `run-${hex(4)}`;
    const events = [
      { id, agent_external_id: "ticket-bot", model: "gpt-4o", input_tokens: 100, output_tokens: 10 },
      { id: `${id}-b`, agent_external_id: "ticket-bot", model: "gpt-4o", input_tokens: 100, output_tokens: 10 },
      { id: `${id}-c`, agent_external_id: "nobody", model: "gpt-4o", input_tokens: 1, output_tokens: 1 },
    ];
    expect((await app.api.post("/api/usage", { events })).body).toMatchObject({ accepted: 2, duplicates: 0 });
    expect((await app.api.post("/api/usage", { events: [events[0]] })).body).toMatchObject({ accepted: 0, duplicates: 1 });
    await page.reload();
    await page.waitForSelector("[data-testid=source-stats]");
    expect({ accepted: await cell("api", "accepted"), duplicates: await cell("api", "duplicates"), rejected: await cell("api", "rejected") }).toEqual({ accepted: "2", duplicates: "1", rejected: "1" });
    expect(await cell("api", "last")).not.toBe("Never");
    expect(await cell("otlp", "last")).toBe("Never");
  }, 30_000);

  test("an unattributed span is counted, and staff bill its trace to an agent", async () => {
    const traceId = hex(16);
    const spanId = hex(8);
    const attr = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
    const span = {
      traceId,
      spanId,
      parentSpanId: hex(8), // a parent that never comes
      name: "chat gpt-4o",
      endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
      attributes: [attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "gpt-4o"), attr("gen_ai.usage.input_tokens", 1200), attr("gen_ai.usage.output_tokens", 300)],
    };
    expect((await app.api.post("/api/otel/v1/traces", { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [span] }] }] })).status).toBe(200);
    // Thirty minutes later, as far as the server can tell.
    await app.database.db.execute(sql`update otel_pending_spans set received_at = now() - interval '31 minutes' where trace_id = ${traceId}`);
    await page.reload();
    await page.waitForSelector(`[data-testid=unattributed-traces] tr[data-trace="${traceId}"]`);
    expect(await textOf(page, "[data-testid=unattributed-count]")).toBe("1 unattributed span");
    expect(await textOf(page, `tr[data-trace="${traceId}"]`)).toContain("1,200 / 300");
    expect(await cell("otlp", "last")).not.toBe("Never");
    await screenshot(page, "integrations-1280");

    await page.getByRole("button", { name: `Attribute trace ${traceId.slice(0, 16)} to an agent` }).click();
    await page.waitForSelector("[data-testid=attribute-dialog]");
    await page.selectOption("#attribute-agent", agent.id);
    await screenshot(page, "integrations-attribute-1280", { fullPage: false });
    await page.click("text=Bill to this agent");
    await page.waitForSelector("[data-testid=attribute-dialog]", { state: "detached" });
    await eventually(() => textOf(page, "[data-testid=unattributed-count]"), (t) => t === "0 unattributed spans");
    expect(await page.locator(`tr[data-trace="${traceId}"]`).count()).toBe(0);
    const billed = await rows<{ agent_id: string; org_id: string; input_tokens: number }>(app.database.db, sql`select agent_id::text, org_id::text, input_tokens::int as input_tokens from usage_events where id = ${`otel:${traceId}:${spanId}`}`);
    expect(billed).toEqual([{ agent_id: agent.id, org_id: org.id, input_tokens: 1200 }]);
    const [entry] = (await app.api.get("/api/audit?action=usage.attribute")).body.events;
    expect(entry).toMatchObject({ action: "usage.attribute", target_id: traceId, actor_label: owner.email });
  }, 30_000);

  test("at phone width the page reads top to bottom without sideways scrolling", async () => {
    const traceId = hex(16);
    const span = { traceId, spanId: hex(8), parentSpanId: hex(8), name: "chat", endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n), attributes: [
      { key: "gen_ai.operation.name", value: { stringValue: "chat" } }, { key: "gen_ai.request.model", value: { stringValue: "claude-sonnet-4" } },
      { key: "gen_ai.usage.input_tokens", value: { intValue: "5400" } }, { key: "gen_ai.usage.output_tokens", value: { intValue: "800" } },
    ] };
    await app.api.post("/api/otel/v1/traces", { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [span] }] }] });
    await app.database.db.execute(sql`update otel_pending_spans set received_at = now() - interval '42 minutes' where trace_id = ${traceId}`);
    const phone = await app.newPage({ width: 390, height: 844 });
    await signInThroughUi(phone, app.base, owner.email, owner.password, "/settings/integrations");
    await phone.waitForSelector("[data-testid=source-stats]");
    await phone.waitForSelector("[data-testid=snippet-api]");
    await phone.waitForSelector(`tr[data-trace="${traceId}"]`);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(phone, "integrations-390");
    await phone.close();
    expect(errors).toEqual([]);
  }, 30_000);

  test("organization-bound users do not see the Integrations section", async () => {
    const bound = await makeUser(app.database, "owner", org.id);
    const p = await app.newPage();
    await signInThroughUi(p, app.base, bound.email, bound.password, "/settings/audit");
    await p.locator("nav[aria-label='Settings sections']").getByRole("link", { name: "Audit log" }).waitFor();
    expect(await p.getByRole("link", { name: "Integrations" }).count()).toBe(0);
    await p.close();
  }, 30_000);
});
