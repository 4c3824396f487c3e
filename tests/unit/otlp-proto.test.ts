import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { AppError } from "../../server/errors";
import { OTLP_PROTO, decodeProtobufRequest, decodeWith } from "../../server/modules/usage/otlp-proto";

const root = protobuf.parse(OTLP_PROTO, { keepCase: true }).root;
const AnyValue = root.lookupType("orgdesk.otlp.AnyValue");
const Request = root.lookupType("orgdesk.otlp.ExportTraceServiceRequest");

/** An AnyValue whose string_value (field 1, length-delimited) holds these bytes, valid UTF-8 or not. */
const stringValueOf = (bytes: number[]) => Buffer.from(protobuf.Writer.create().uint32((1 << 3) | 2).bytes(Uint8Array.from(bytes)).finish());
/** What protobufjs's own reader makes of a body: the string, or that it refuses it. */
function protobufjsReads(body: Uint8Array): string | "refused" {
  try {
    return (AnyValue.decode(Uint8Array.from(body)) as unknown as { string_value: string }).string_value;
  } catch {
    return "refused";
  }
}
function ourReads(body: Buffer): string | "refused" {
  try {
    return (decodeWith(AnyValue, body) as unknown as { string_value: string }).string_value;
  } catch {
    return "refused";
  }
}

const utf8 = (s: string) => [...Buffer.from(s, "utf8")];
const long = (bytes: number[]) => [...utf8("x".repeat(70)), ...bytes, ...utf8("y".repeat(10))];

describe("OTLP protobuf strings are read natively and still checked as UTF-8 (docs/decisions.md, \"Usage from agent runtimes\")", () => {
  const valid: [string, number[]][] = [
    ["empty", []],
    ["ASCII", utf8("gen_ai.usage.input_tokens")],
    ["two-, three- and four-byte characters", utf8("é€😀 Grüße")],
    ["a byte-order mark, kept", [0xef, 0xbb, 0xbf, ...utf8("bom")]],
    ["U+FFFD itself", utf8("a\uFFFDb")],
    ["longer than protobufjs's own native threshold", long(utf8("ü"))],
  ];
  const invalid: [string, number[]][] = [
    ["a lone continuation byte", [0x61, 0x80, 0x62]],
    ["a truncated sequence", [0x61, 0xe2, 0x82]],
    ["an overlong encoding", [0xc0, 0x80]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["a byte that is never UTF-8", [0x61, 0xff]],
    ["an invalid byte in a long string", long([0xfe])],
  ];
  for (const [what, bytes] of valid) {
    test(`valid: ${what} reads as protobufjs reads it`, () => {
      const body = stringValueOf(bytes);
      expect(protobufjsReads(body)).not.toBe("refused");
      expect(ourReads(body)).toBe(protobufjsReads(body));
      expect(ourReads(body)).toBe(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes)));
    });
  }
  for (const [what, bytes] of invalid) {
    test(`invalid: ${what} is refused, as protobufjs refuses it`, () => {
      const body = stringValueOf(bytes);
      expect(protobufjsReads(body)).toBe("refused");
      expect(ourReads(body)).toBe("refused");
    });
  }

  test("a string that runs past the end of the body is refused", () => {
    const body = stringValueOf(utf8("abcdef"));
    expect(ourReads(body.subarray(0, body.length - 2))).toBe("refused");
  });

  test("a request with an attribute key that is not UTF-8 is a 400; the same request with a valid key is read", () => {
    const request = (key: Uint8Array) => {
      const message = Request.fromObject({
        resource_spans: [{ scope_spans: [{ spans: [{ trace_id: Buffer.alloc(16, 1), span_id: Buffer.alloc(8, 2), name: "chat", attributes: [{ key: "k", value: { string_value: "v" } }] }] }] }],
      });
      const bytes = Buffer.from(Request.encode(message).finish());
      // Replace the one-byte key "k" (0x0a 0x01 0x6b) by the given bytes of the same length.
      const at = bytes.indexOf(Buffer.from([0x0a, 0x01, 0x6b]));
      expect(at).toBeGreaterThan(0);
      bytes.set(key, at + 2);
      return bytes;
    };
    const read = decodeProtobufRequest(request(Uint8Array.from([0x6b])));
    expect([...read.resourceSpans[0]!.spans[0]!.attributes]).toEqual([["k", "v"]]);
    expect(read.resourceSpans[0]!.spans[0]!.traceId).toBe("01".repeat(16));
    expect(() => decodeProtobufRequest(request(Uint8Array.from([0xff])))).toThrow(AppError);
  });
});
