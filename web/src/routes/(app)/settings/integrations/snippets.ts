/**
 * The copy-paste configuration of each ingestion source for a server at `base` (docs/integrations.md).
 * The key is a placeholder: a secret is shown once, when it is created (Settings → API keys).
 */
export const KEY_PLACEHOLDER = "odk_your_usage_key";

export interface Snippet {
  id: "otel" | "litellm" | "api";
  title: string;
  /** What the block is, for its label and copy button. */
  label: string;
  language: string;
  text: string;
}

export function snippets(base: string): Snippet[] {
  const root = base.replace(/\/+$/, "");
  return [
    {
      id: "otel",
      title: "OpenTelemetry",
      label: "OpenTelemetry exporter environment",
      language: "sh",
      text: [
        `export OTEL_EXPORTER_OTLP_ENDPOINT=${root}/api/otel`,
        `export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer ${KEY_PLACEHOLDER}"`,
        "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "# when one process is one agent:",
        "export OTEL_RESOURCE_ATTRIBUTES=orgdesk.agent.id=<agent external id>",
      ].join("\n"),
    },
    {
      id: "litellm",
      title: "LiteLLM proxy",
      label: "LiteLLM config.yaml",
      language: "yaml",
      text: [
        "# config.yaml: one virtual key per agent, aliased with the agent's external id",
        "litellm_settings:",
        '  callbacks: ["generic_api"]',
        "callback_settings:",
        "  generic_api:",
        `    endpoint: ${root}/api/integrations/litellm`,
        "    headers:",
        `      Authorization: "Bearer ${KEY_PLACEHOLDER}"`,
        "    log_format: json_array",
      ].join("\n"),
    },
    {
      id: "api",
      title: "Your own code",
      label: "curl for POST /api/usage",
      language: "sh",
      text: [
        `curl -X POST ${root}/api/usage \\`,
        `  -H 'Authorization: Bearer ${KEY_PLACEHOLDER}' -H 'content-type: application/json' \\`,
        `  -d '{"events": [{"id": "run-42-call-1", "agent_external_id": "support-bot", "model": "gpt-4o",`,
        `       "input_tokens": 200, "output_tokens": 300, "occurred_at": "${new Date().toISOString().slice(0, 10)}T10:00:00Z"}]}'`,
      ].join("\n"),
    },
  ];
}
