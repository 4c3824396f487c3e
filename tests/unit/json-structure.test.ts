import { describe, expect, test } from "bun:test";
import { jsonStructureProblem } from "../../server/rest/route";

describe("JSON structure checks before parsing", () => {
  test("a key repeated in one object is named", () => {
    expect(jsonStructureProblem('{"a":1,"b":2,"a":3}')).toBe('The body repeats the key "a" in one object');
  });

  test("escaped spellings of the same key are the same key", () => {
    expect(jsonStructureProblem('{"name":1,"n\\u0061me":2}')).toBe('The body repeats the key "name" in one object');
  });

  test("equal keys in sibling or nested objects, and equal strings as values, are fine", () => {
    expect(jsonStructureProblem('{"events":[{"id":"a","x":"id"},{"id":"b"}],"id":{"id":"id"}}')).toBeNull();
    expect(jsonStructureProblem('{"a":"{\\"a\\":1}","b":"a"}')).toBeNull();
  });

  test("nesting deeper than the limit is refused, at the limit it is fine", () => {
    expect(jsonStructureProblem("[".repeat(33) + "]".repeat(33))).toBe("The body is nested deeper than 32 levels");
    expect(jsonStructureProblem("[".repeat(32) + "]".repeat(32))).toBeNull();
    expect(jsonStructureProblem('{"a":'.repeat(100_000) + "1" + "}".repeat(100_000))).toBe("The body is nested deeper than 32 levels");
  });

  test("brackets inside strings do not count", () => {
    expect(jsonStructureProblem(`{"a":"${"[".repeat(1000)}"}`)).toBeNull();
  });

  test("half a surrogate pair in an escape is refused, in a value or a key; whole pairs, other escapes and escaped backslashes are fine", () => {
    expect(jsonStructureProblem('{"model":"m\\ud800"}')).toBe("The body holds half a surrogate pair (\\ud800 without its low half): not a Unicode character");
    expect(jsonStructureProblem('{"model":"m\\ud800\\u0041"}')).toContain("without its low half");
    expect(jsonStructureProblem('{"model":"\\uDC00x"}')).toBe("The body holds half a surrogate pair (\\uDC00 without its high half): not a Unicode character");
    expect(jsonStructureProblem('{"a\\ud83d":1}')).toContain("without its low half");
    expect(jsonStructureProblem('["x\\ud83d"]')).toContain("without its low half");
    // A whole pair (😀), BMP escapes, and a backslash followed by the letters "ud800" are characters.
    expect(jsonStructureProblem('{"model":"\\ud83d\\ude00 \\u00e9 \\\\ud800 \\"q\\""}')).toBeNull();
    expect(JSON.parse('"\\ud83d\\ude00"')).toBe("😀");
  });
});
