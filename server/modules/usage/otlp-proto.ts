/**
 * The OTLP/HTTP trace messages Orgdesk reads, decoded and encoded by protobufjs (docs/decisions.md,
 * "Usage from agent runtimes"). The definitions below are the subset of the official opentelemetry-proto
 * files that billing needs, with their field numbers unchanged:
 *   opentelemetry/proto/collector/trace/v1/trace_service.proto (ExportTraceServiceRequest,
 *   ExportTraceServiceResponse, ExportTracePartialSuccess), opentelemetry/proto/trace/v1/trace.proto
 *   (ResourceSpans, ScopeSpans, Span), opentelemetry/proto/resource/v1/resource.proto (Resource),
 *   opentelemetry/proto/common/v1/common.proto (AnyValue, ArrayValue, KeyValueList, KeyValue),
 * from https://github.com/open-telemetry/opentelemetry-proto. Fields left out (span events and
 * links, scopes, schema URLs, …) are skipped by the decoder as unknown fields, as protobuf intends.
 */
import { isUtf8 } from "node:buffer";
import protobuf from "protobufjs";
import { AppError } from "../../errors";
import type { OtlpRequest, OtlpSpan } from "./otlp";

export const OTLP_PROTO = `
syntax = "proto3";
package orgdesk.otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue {
  string key = 1;
  AnyValue value = 2;
}
message Resource { repeated KeyValue attributes = 1; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
}
message ScopeSpans { repeated Span spans = 2; }
message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
}
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTracePartialSuccess {
  int64 rejected_spans = 1;
  string error_message = 2;
}
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
`;

const root = protobuf.parse(OTLP_PROTO, { keepCase: true }).root;

/**
 * protobufjs's reader over a Buffer, reading proto3 strings natively. protobufjs checks that a
 * proto3 string is UTF-8 (`stringVerify`) by building it in JavaScript from character codes, eight
 * at a time, and only the plain `string` read of its Buffer reader is native; an OTLP span carries
 * a dozen short strings (attribute keys and values), so that pieced-together read, and hashing the
 * pieced strings as map keys, cost more than the rest of the decoding. Here the bytes are decoded
 * natively and still refused when they are not UTF-8: a decoder replaces every invalid sequence
 * with U+FFFD, so only a string that contains one is checked byte by byte (docs/decisions.md,
 * "Usage from agent runtimes").
 */
class Utf8CheckedReader extends protobuf.BufferReader {
  declare buf: Buffer;
  declare len: number;
  stringVerify(): string {
    const length = this.uint32();
    const start = this.pos;
    const end = start + length;
    if (end > this.len) throw new RangeError(`index out of range: ${start} + ${length} > ${this.len}`);
    this.pos = end;
    const text = this.buf.toString("utf8", start, end);
    if (text.includes("\uFFFD") && !isUtf8(this.buf.subarray(start, end))) throw new TypeError("a string field is not valid UTF-8");
    return text;
  }
}

/** Decodes a message of `type` with the reader above (nested messages share it). */
export function decodeWith(type: protobuf.Type, body: Uint8Array): protobuf.Message {
  const buffer = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return type.decode(new Utf8CheckedReader(buffer));
}
const Request = root.lookupType("orgdesk.otlp.ExportTraceServiceRequest");
const Response = root.lookupType("orgdesk.otlp.ExportTraceServiceResponse");

/** Bytes as lowercase hex, without copying them (protobufjs hands out Buffers under Bun). */
const hex = (bytes: Uint8Array | undefined) =>
  !bytes || bytes.length === 0 ? "" : (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString("hex");

/** Whether two byte strings are equal (a trace id repeats on every span of its request). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A decoded message: protobufjs message instances, read in place: a `toObject` copy cost more than
 * the decoding, and every allocation per span or attribute shows under load (docs/decisions.md,
 * "Usage from agent runtimes").
 */
type Decoded = Record<string, any>;

/** An int64 as protobufjs decodes it: a Long (when long.js is present, as here) or a number. */
type Int64 = number | { low: number; high: number; toNumber(): number };

/** An unsigned 64-bit integer (a fixed64), exactly. */
const uint64 = (v: Int64 | null | undefined): bigint =>
  v === undefined || v === null ? 0n : typeof v === "number" ? BigInt(Math.trunc(v)) : (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);

function value(v: Decoded | null | undefined): unknown {
  // `value` is the AnyValue oneof: protobufjs names the field that is set.
  const set = v?.value as string | undefined;
  if (!v || !set) return undefined;
  const x = v[set];
  switch (set) {
    case "string_value":
    case "double_value":
    case "bool_value":
      return x;
    case "int_value":
      // Long#toNumber rounds like Number() of the exact decimal: high·2³² is exact, one rounding in the sum.
      return typeof x === "number" ? x : (x as Exclude<Int64, number>).toNumber();
    case "array_value":
      return ((x?.values as Decoded[]) ?? []).map(value);
    default:
      return undefined;
  }
}

/** The attributes as the map `mapSpan` reads (the last of a repeated key wins). */
function attributes(list: Decoded[] | undefined): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (!list) return map;
  for (let i = 0; i < list.length; i++) {
    const kv = list[i]!;
    map.set(String(kv.key ?? ""), value(kv.value));
  }
  return map;
}

/** Decodes an `application/x-protobuf` ExportTraceServiceRequest; a truncated or corrupt one is a 400. */
export function decodeProtobufRequest(body: Uint8Array): OtlpRequest {
  let message: Decoded;
  try {
    message = decodeWith(Request, body) as unknown as Decoded;
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not a valid OTLP ExportTraceServiceRequest (protobuf): it is truncated or corrupt");
  }
  let traceBytes: Uint8Array | null = null;
  let traceHex = "";
  const resourceSpans: OtlpRequest["resourceSpans"] = [];
  for (const rs of (message.resource_spans as Decoded[]) ?? []) {
    const spans: OtlpSpan[] = [];
    for (const ss of (rs.scope_spans as Decoded[]) ?? []) {
      for (const s of (ss.spans as Decoded[]) ?? []) {
        const traceId = s.trace_id as Uint8Array | undefined;
        if (!traceId || !traceBytes || !sameBytes(traceId, traceBytes)) {
          traceBytes = traceId ?? null;
          traceHex = hex(traceId);
        }
        spans.push({
          traceId: traceHex,
          spanId: hex(s.span_id),
          parentSpanId: hex(s.parent_span_id),
          name: String(s.name ?? ""),
          endTimeUnixNano: uint64(s.end_time_unix_nano),
          attributes: attributes(s.attributes),
        });
      }
    }
    resourceSpans.push({ resource: attributes(rs.resource?.attributes), spans });
  }
  return { resourceSpans };
}

/** The ExportTraceServiceResponse in protobuf: empty when every span was accepted. */
export function encodeProtobufResponse(rejectedSpans: number, errorMessage: string): Uint8Array {
  const message = rejectedSpans > 0 ? { partial_success: { rejected_spans: rejectedSpans, error_message: errorMessage } } : {};
  return Response.encode(Response.fromObject(message)).finish();
}
