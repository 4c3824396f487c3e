/**
 * The OTLP/HTTP trace messages Orgdesk reads, decoded and encoded by protobufjs (docs/decisions.md,
 * "OTLP protobuf"). The definitions below are the subset of the official opentelemetry-proto
 * files that billing needs, with their field numbers unchanged:
 *   opentelemetry/proto/collector/trace/v1/trace_service.proto (ExportTraceServiceRequest,
 *   ExportTraceServiceResponse, ExportTracePartialSuccess), opentelemetry/proto/trace/v1/trace.proto
 *   (ResourceSpans, ScopeSpans, Span), opentelemetry/proto/resource/v1/resource.proto (Resource),
 *   opentelemetry/proto/common/v1/common.proto (AnyValue, ArrayValue, KeyValueList, KeyValue),
 * from https://github.com/open-telemetry/opentelemetry-proto. Fields left out (span events and
 * links, scopes, schema URLs, …) are skipped by the decoder as unknown fields, as protobuf intends.
 */
import protobuf from "protobufjs";
import { AppError } from "../../errors";
import type { OtlpRequest } from "./otlp";

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
const Request = root.lookupType("orgdesk.otlp.ExportTraceServiceRequest");
const Response = root.lookupType("orgdesk.otlp.ExportTraceServiceResponse");

/** Bytes as lowercase hex, without copying them (protobufjs hands out Buffers under Bun). */
const hex = (bytes: Uint8Array | undefined) =>
  !bytes || bytes.length === 0 ? "" : (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString("hex");

/** A decoded message: protobufjs message instances, read in place: a `toObject` copy cost more than the decoding (docs/decisions.md, "Usage from agent runtimes"). */
type Decoded = Record<string, any>;

/** An int64 as protobufjs decodes it: a Long (when long.js is present) or a number. */
const int64 = (v: unknown): string => (v === undefined || v === null ? "0" : typeof v === "number" ? String(v) : String((v as { toString(): string }).toString()));

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
      return typeof x === "number" ? x : Number(int64(x));
    case "array_value":
      return ((x?.values as Decoded[]) ?? []).map(value);
    default:
      return undefined;
  }
}

const attributes = (list: Decoded[] | undefined) => (list ?? []).map((kv) => ({ key: String(kv.key ?? ""), value: value(kv.value) }));

/** Decodes an `application/x-protobuf` ExportTraceServiceRequest; a truncated or corrupt one is a 400. */
export function decodeProtobufRequest(body: Uint8Array): OtlpRequest {
  let message: Decoded;
  try {
    message = Request.decode(body) as unknown as Decoded;
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not a valid OTLP ExportTraceServiceRequest (protobuf): it is truncated or corrupt");
  }
  return {
    resourceSpans: ((message.resource_spans as Decoded[]) ?? []).map((rs) => ({
      resource: attributes(rs.resource?.attributes),
      spans: ((rs.scope_spans as Decoded[]) ?? []).flatMap((ss) =>
        ((ss.spans as Decoded[]) ?? []).map((s) => ({
          traceId: hex(s.trace_id),
          spanId: hex(s.span_id),
          parentSpanId: hex(s.parent_span_id),
          name: String(s.name ?? ""),
          endTimeUnixNano: int64(s.end_time_unix_nano),
          attributes: attributes(s.attributes),
        })),
      ),
    })),
  };
}

/** The ExportTraceServiceResponse in protobuf: empty when every span was accepted. */
export function encodeProtobufResponse(rejectedSpans: number, errorMessage: string): Uint8Array {
  const message = rejectedSpans > 0 ? { partial_success: { rejected_spans: rejectedSpans, error_message: errorMessage } } : {};
  return Response.encode(Response.fromObject(message)).finish();
}
