// This import comes first on purpose: the schema is built before anything loads @hono/zod-openapi.
import { usageEventInput } from "../../server/modules/usage/schema";
import { describe, expect, test } from "bun:test";
import type { Database } from "../../db/client";
import { createApp } from "../../server/app";
import { loadConfig } from "../../server/config";

/**
 * The API document builds whatever was loaded first: a schema the document names as a component
 * (`UsageEvent`) may have been built before the OpenAPI library extended zod (run alone, this file
 * builds it first; in the suite, service tests do).
 */
describe("the OpenAPI document", () => {
  test("is built even when the schemas it names were built before the OpenAPI library was loaded", async () => {
    expect(usageEventInput).toBeDefined();
    const app = createApp({ database: {} as Database, config: { ...loadConfig({}), rateLimitPerKey: 0, rateLimitPerAddress: 0, webDir: undefined } });
    const doc = await (await app.request("/api/openapi.json")).json();
    expect(Object.keys(doc.components.schemas)).toContain("UsageEvent");
    expect(doc.components.schemas.UsageEvent.properties.id.maxLength).toBe(128);
  });
});
