import { describe, expect, test } from "bun:test";
import { KEY_PLACEHOLDER, snippets } from "../../web/src/routes/(app)/settings/integrations/snippets";
import { importContentType } from "../../web/src/routes/(app)/settings/integrations/upload";

describe("integration snippets", () => {
  test("point every source at the server's address, without a doubled slash, with the key placeholder", () => {
    const [otel, litellm, api] = snippets("https://orgdesk.example.com/");
    expect(otel!.text).toContain("OTEL_EXPORTER_OTLP_ENDPOINT=https://orgdesk.example.com/api/otel\n");
    expect(otel!.text).toContain(`OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${KEY_PLACEHOLDER}"`);
    expect(litellm!.text).toContain("    endpoint: https://orgdesk.example.com/api/integrations/litellm\n");
    expect(litellm!.text).toContain(`      Authorization: "Bearer ${KEY_PLACEHOLDER}"`);
    expect(api!.text.startsWith("curl -X POST https://orgdesk.example.com/api/usage \\")).toBe(true);
    for (const s of [otel, litellm, api]) expect(s!.text).not.toContain("//api");
  });

  test("a server under a path prefix keeps it", () => {
    expect(snippets("https://tools.example.com/orgdesk")[0]!.text).toContain("OTEL_EXPORTER_OTLP_ENDPOINT=https://tools.example.com/orgdesk/api/otel\n");
  });
});

describe("bulk import file types", () => {
  test("are chosen by extension, whatever the case; anything else is refused", () => {
    expect(importContentType("history.csv")).toBe("text/csv");
    expect(importContentType("HISTORY.CSV")).toBe("text/csv");
    expect(importContentType("events.ndjson")).toBe("application/x-ndjson");
    expect(importContentType("events.jsonl")).toBe("application/x-ndjson");
    expect(importContentType("events.json")).toBeNull();
    expect(importContentType("csv")).toBeNull();
  });
});
