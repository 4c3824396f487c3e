import { expect, test } from "bun:test";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

/**
 * Libraries only some requests need are loaded on their first use, not when the server starts:
 * pdfkit (with its fonts' metrics, about 30 MB resident) for invoice PDFs and protobufjs (about 15 MB
 * with the OTLP definitions) for OTLP protobuf exports (docs/scaling.md, "Memory"). Loads the
 * server's entry point in a fresh process and lists the packages it pulled in.
 */
test("starting the server loads neither pdfkit nor protobufjs; their first use does", () => {
  const script = `
    const loaded = () => [...new Set(Object.keys(require.cache).flatMap((k) => /node_modules\\/(pdfkit|fontkit|protobufjs)\\//.exec(k)?.[1] ?? []))].sort();
    await import("./server/index.ts");
    const atStart = loaded();
    const { decodeProtobufRequest } = await import("./server/modules/usage/otlp-proto.ts");
    decodeProtobufRequest(new Uint8Array());
    const afterProto = loaded();
    const { invoicePdf } = await import("./server/modules/invoices/documents.ts");
    const pdf = await invoicePdf({
      status: "draft", number: null, month: "2026-11", currency: "NGN", issued_at: null, due_at: null, finalized_at: null,
      voided_at: null, void_reason: null, subtotal: "54509.70", total: "54509.70",
      agency: { name: "Agency" }, client: { name: "Client" },
      lines: [{ description: "Agents", quantity: "1", unit_amount: "54509.70", amount: "54509.70" }],
    });
    console.log(JSON.stringify({ atStart, afterProto, afterPdf: loaded(), pdf: pdf.subarray(0, 5).toString() }));
  `;
  const run = Bun.spawnSync(["bun", "-e", script], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" } });
  const out = run.stdout.toString().trim().split("\n").at(-1)!;
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  const result = JSON.parse(out);
  expect(result.atStart).toEqual([]);
  expect(result.afterProto).toEqual(["protobufjs"]);
  expect(result.afterPdf).toEqual(["fontkit", "pdfkit", "protobufjs"]);
  expect(result.pdf).toBe("%PDF-");
});
