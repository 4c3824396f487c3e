import { describe, expect, test } from "bun:test";
import { copyValue, csvFields, csvHeader, readLines } from "../../server/modules/usage/import";

/** The bulk import's line reading (docs/integrations.md, "Bulk import"): pure, so checked on its own. */
async function linesOf(chunks: (string | number[])[]) {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? new TextEncoder().encode(c) : new Uint8Array(c));
      controller.close();
    },
  });
  const out: [number, string | { error: string }][] = [];
  for await (const block of readLines(body)) block.lines.forEach((l, k) => out.push([block.first + k, l]));
  return out;
}

describe("reading an import line by line", () => {
  test("lines cut anywhere across chunks, a character's bytes split between two chunks, no final newline", async () => {
    const euro = [...new TextEncoder().encode("€")];
    expect(await linesOf(["a,b\nc", ",d\n", [0x78, euro[0]!], [euro[1]!, euro[2]!, 0x0a], "last"])).toEqual([
      [1, "a,b"],
      [2, "c,d"],
      [3, "x€"],
      [4, "last"],
    ]);
  });

  test("a line that is not UTF-8 or too long is refused on its own; the next lines are read", async () => {
    const long = "y".repeat(70_000);
    const lines = await linesOf(["ok\n", [0xff, 0x0a], long.slice(0, 30_000), long.slice(30_000) + "\nafter\n", "z".repeat(20_000) + "\nend"]);
    expect(lines).toEqual([
      [1, "ok"],
      [2, { error: "the line is not valid UTF-8" }],
      [3, { error: "the line is longer than 16384 characters" }],
      [4, "after"],
      [5, { error: "the line is longer than 16384 characters" }],
      [6, "end"],
    ]);
  });
});

describe("CSV records", () => {
  test("quoted fields with commas and doubled quotes; broken quoting is null", () => {
    expect(csvFields('a,"b,c","say ""hi""",')).toEqual(["a", "b,c", 'say "hi"', ""]);
    expect(csvFields('"open')).toBeNull();
    expect(csvFields('a"b,c')).toBeNull();
    expect(csvFields('"a"b')).toBeNull();
  });

  test("the header maps each record to the event POST /api/usage would receive: empty cells omitted, token counts as numbers", () => {
    const read = csvHeader("\uFEFFid,agent_external_id,model,input_tokens,output_tokens,cost_usd");
    expect(read("e1,bot,gpt-4o,12,3,")).toEqual({ event: { id: "e1", agent_external_id: "bot", model: "gpt-4o", input_tokens: 12, output_tokens: 3 } });
    expect(read("e2,bot,gpt-4o,twelve,3,0.5")).toEqual({ event: { id: "e2", agent_external_id: "bot", model: "gpt-4o", input_tokens: "twelve", output_tokens: 3, cost_usd: "0.5" } });
    expect(read("e3,bot")).toEqual({ error: "the line has 2 fields; the header names 6", id: "e3" });
  });

  test("a header with an unknown, repeated or missing column is a 400 listing each", () => {
    expect(() => csvHeader("id,id,model,input_tokens,colour")).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    try {
      csvHeader("id,id,model,input_tokens,colour");
    } catch (err: any) {
      expect(err.errors).toEqual([
        { path: "header.id", message: "appears twice" },
        { path: "header.colour", message: expect.stringContaining("is not an Event field") },
        { path: "header.output_tokens", message: "is a required column" },
        { path: "header.agent_id", message: "is a required column (or agent_external_id)" },
      ]);
    }
  });
});

test("COPY text values: null, backslashes and a literal \\N kept apart", () => {
  expect(copyValue(null)).toBe("\\N");
  expect(copyValue("\\N")).toBe("\\\\N");
  expect(copyValue("a\\b")).toBe("a\\\\b");
  expect(copyValue(42)).toBe("42");
});
