import { context, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as HttpExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base";

/** The real OpenTelemetry JS exporters, pointed at `url` with `key` as OTEL_EXPORTER_OTLP_HEADERS would set it. */
export function exporter(kind: "proto" | "http", url: string, key: string): SpanExporter {
  const options = { url, headers: { authorization: `Bearer ${key}` } };
  return kind === "proto" ? new ProtoExporter(options) : new HttpExporter(options);
}

/** Remembers every ended span, so a test can export them again (an exporter's retry). */
class Recorder implements SpanProcessor {
  spans: ReadableSpan[] = [];
  onStart() {}
  onEnd(span: ReadableSpan) {
    this.spans.push(span);
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    return Promise.resolve();
  }
}

export interface AgentRunOptions {
  processor: "simple" | "batch";
  exporter: SpanExporter;
  agentId: string;
  model: string;
}

/**
 * One agent run as GenAI instrumentations emit it: an `invoke_agent` span naming the agent, two
 * `chat` children with usage (the first with cache reads) and an `execute_tool` span. Children end
 * first, so with a SimpleSpanProcessor each is its own request, sent before its parent's.
 */
export async function agentRun(o: AgentRunOptions): Promise<ReadableSpan[]> {
  const recorder = new Recorder();
  const processor = o.processor === "simple" ? new SimpleSpanProcessor(o.exporter) : new BatchSpanProcessor(o.exporter, { scheduledDelayMillis: 50 });
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ "service.name": "support-agent" }), spanProcessors: [recorder, processor] });
  const tracer = provider.getTracer("orgdesk-test");
  const agent = tracer.startSpan(`invoke_agent ${o.agentId}`, {
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": o.agentId, "gen_ai.agent.name": "Support", "gen_ai.usage.input_tokens": 1700, "gen_ai.usage.output_tokens": 400 },
  });
  const inAgent = trace.setSpan(context.active(), agent);
  const chat1 = tracer.startSpan(`chat ${o.model}`, {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": o.model,
      "gen_ai.response.model": o.model,
      "gen_ai.usage.input_tokens": 1200,
      "gen_ai.usage.cache_read.input_tokens": 1000,
      "gen_ai.usage.output_tokens": 300,
    },
  }, inAgent);
  chat1.end();
  const tool = tracer.startSpan("execute_tool lookup_ticket", { attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_ticket" } }, inAgent);
  tool.end();
  const chat2 = tracer.startSpan(`chat ${o.model}`, {
    attributes: { "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": o.model, "gen_ai.usage.prompt_tokens": 500, "gen_ai.usage.completion_tokens": 100 },
  }, inAgent);
  chat2.end();
  agent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return recorder.spans;
}

/** Exports `spans` again through `exporter`, as an exporter's retry would. */
export function exportAgain(target: SpanExporter, spans: ReadableSpan[]): Promise<number> {
  return new Promise((resolve) => target.export(spans, (result) => resolve(result.code)));
}
