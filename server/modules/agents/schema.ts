import { z } from "zod";
import {
  cursorInput,
  forbiddenField,
  instantInput,
  instantOutput,
  limitInput,
  moneyInput,
  moneyOutput,
  optionalEmail,
  optionalText,
  orgRef,
  searchText,
  text,
  uuidString,
} from "../../shared/fields";

export const agentListInput = z.object({
  org: orgRef.optional(),
  status: z.enum(["active", "archived", "suspended"], { error: "must be active, archived or suspended" }).optional(),
  q: searchText.optional(),
  limit: limitInput,
  cursor: cursorInput,
});

/**
 * The id an agent's runtime knows it by (docs/integrations.md): 1–128 characters without spaces or
 * control characters, unique among all agents; null (or "") removes it.
 */
export const externalIdInput = z
  .string({ error: "must be a string" })
  .trim()
  .max(128, "must be at most 128 characters")
  .refine((s) => !/[\s\u0000-\u001f\u007f]/.test(s), "must not contain spaces or control characters")
  .nullable()
  .optional()
  .transform((s) => (s === "" ? null : s))
  .meta({ description: "The id the agent's runtime knows it by (OpenTelemetry gen_ai.agent.id, LiteLLM key alias); unique among agents" });

export const agentCreateInput = z.strictObject({
  name: text(128, 1),
  email: optionalEmail,
  description: optionalText(512),
  external_id: externalIdInput,
  org_id: orgRef.optional(),
  created_at: instantInput.optional(),
});

/** A custom rate: money, or null to inherit the organization's default. */
const rateInput = z.union([z.null(), moneyInput], { error: "must be a decimal amount or null" });

/**
 * PATCH body. `billingRate` is the documented name, `billing_rate` its alias; giving both with
 * different values is an error. The REST body and the tRPC input (which adds `id`) share it.
 */
const agentPatchShape = z.strictObject({
  name: text(128, 1).optional(),
  email: optionalEmail,
  description: optionalText(512),
  external_id: externalIdInput,
  status: z.enum(["active", "archived"], { error: "must be active or archived" }).optional(),
  billingRate: rateInput.optional(),
  billing_rate: rateInput.optional(),
  effective_at: instantInput.optional(),
  org_id: forbiddenField("cannot be set here; use assign-org"),
  id: forbiddenField("cannot be changed"),
});

function normalizePatch<T extends { billingRate?: string | null; billing_rate?: string | null; org_id?: unknown }>(shape: z.ZodType<T>) {
  return shape
    .superRefine((v, ctx) => {
      if (v.billingRate !== undefined && v.billing_rate !== undefined && v.billingRate !== v.billing_rate) {
        ctx.addIssue({ code: "custom", path: ["billing_rate"], message: "conflicts with billingRate; send one of them" });
      }
    })
    .transform(({ billingRate, billing_rate, org_id: _o, ...rest }) => ({
      ...rest,
      billing_rate: billingRate !== undefined ? billingRate : billing_rate,
    }));
}

export const agentUpdateFields = normalizePatch(agentPatchShape);
export const agentIdInput = z.object({ id: uuidString });
export const agentUpdateInput = normalizePatch(agentPatchShape.extend({ id: uuidString }));

const agentAssignShape = z.strictObject({
  orgId: orgRef.optional(),
  org_id: orgRef.optional(),
  effective_at: instantInput.optional(),
});

function normalizeAssign<T extends { orgId?: string; org_id?: string }>(shape: z.ZodType<T>) {
  return shape
    .superRefine((v, ctx) => {
      if (v.orgId === undefined && v.org_id === undefined) ctx.addIssue({ code: "custom", path: ["orgId"], message: "is required" });
      if (v.orgId !== undefined && v.org_id !== undefined && v.orgId !== v.org_id) {
        ctx.addIssue({ code: "custom", path: ["org_id"], message: "conflicts with orgId; send one of them" });
      }
    })
    .transform(({ orgId, org_id, ...rest }) => ({ ...rest, org_id: (orgId ?? org_id)! }));
}

export const agentAssignFields = normalizeAssign(agentAssignShape);
export const agentAssignInput = normalizeAssign(agentAssignShape.extend({ id: uuidString }));

export const agentUnassignFields = z.strictObject({ effective_at: instantInput.optional() });
export const agentUnassignInput = agentUnassignFields.extend({ id: uuidString });

export const agentAssignableInput = z.object({ org_id: orgRef, q: searchText.optional() });

export const agentOutput = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  description: z.string().nullable(),
  external_id: z.string().nullable(),
  status: z.enum(["active", "archived"]),
  effective_status: z.enum(["active", "archived", "suspended"]),
  /** Why `effective_status` is `suspended`: its organization is inactive, or a budget suspended it; null otherwise. */
  suspension_reason: z.enum(["organization_inactive", "budget"]).nullable(),
  org_id: z.string(),
  org_slug: z.string(),
  billing_rate: moneyOutput.nullable(),
  effective_rate: moneyOutput,
  rate_source: z.enum(["custom", "default"]),
  created_at: instantOutput,
  updated_at: instantOutput,
});

export const agentListOutput = z.object({ agents: z.array(agentOutput), next_cursor: z.string().nullable() });

export const agentAssignOutput = z.object({
  success: z.literal(true),
  reassigned: z.boolean(),
  previousOrgId: z.string(),
  orgId: z.string(),
  rateCleared: z.boolean(),
  agent: agentOutput,
});

export const agentUnassignOutput = z.object({ success: z.literal(true), previousOrgId: z.string(), orgId: z.string() });

export const assignableAgentOutput = z.object({
  id: z.string(),
  name: z.string(),
  effective_status: z.enum(["active", "archived", "suspended"]),
  /** The agent's current organization. */
  from_org_id: z.string(),
  from_org_name: z.string(),
  /** `[from <Org>]`. */
  label: z.string(),
  has_custom_rate: z.boolean(),
});

export type Agent = z.infer<typeof agentOutput>;
