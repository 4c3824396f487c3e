import { z } from "zod";
import {
  cursorInput,
  currencyInput,
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
} from "../../shared/fields";

export const orgListInput = z.object({
  q: searchText.optional(),
  status: z.enum(["active", "inactive"], { error: "must be active or inactive" }).optional(),
  limit: limitInput,
  cursor: cursorInput,
});

export const orgCreateInput = z.strictObject({
  name: text(128, 1),
  slug: z
    .string({ error: "must be a string" })
    .max(128, "must be at most 64 characters")
    .meta({ description: "At most 64 lower-case letters and digits in groups separated by single dashes; default: made from the name" })
    .optional(),
  contact_name: optionalText(128),
  contact_email: optionalEmail,
  description: optionalText(512),
  billing_rate_per_agent: moneyInput.optional(),
  currency: currencyInput.optional(),
  created_at: instantInput.optional(),
});

export const orgUpdateFields = z.strictObject({
  name: text(128, 1).optional(),
  contact_name: optionalText(128),
  contact_email: optionalEmail,
  description: optionalText(512),
  billing_rate_per_agent: moneyInput.optional(),
  currency: currencyInput.optional(),
  /** When a rate change takes effect (backdating, docs/billing.md); default now. */
  effective_at: instantInput.optional(),
  /** Accepted only when equal to the current slug (a no-op): a slug never changes (the service checks). */
  slug: z
    .string({ error: "cannot be changed after creation" })
    .max(128, "cannot be changed after creation")
    .optional()
    .meta({ description: "The current slug, unchanged (any other value is refused: a slug never changes)" }),
  id: forbiddenField("cannot be changed"),
  is_active: forbiddenField("cannot be set here; use the toggle endpoint"),
  is_internal: forbiddenField("cannot be changed"),
});

export const orgIdInput = z.object({ id: orgRef });
export const orgUpdateInput = orgUpdateFields.extend({ id: orgRef });

export const orgToggleFields = z.strictObject({
  is_active: z.boolean({ error: "must be true or false" }).optional(),
  /** When the change takes effect (backdating an imported history); default now. */
  effective_at: instantInput.optional(),
});
export const orgToggleInput = orgToggleFields.extend({ id: orgRef });

export const orgOutput = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  contact_name: z.string().nullable(),
  contact_email: z.string().nullable(),
  description: z.string().nullable(),
  billing_rate_per_agent: moneyOutput,
  currency: z.string(),
  is_active: z.boolean(),
  is_internal: z.boolean(),
  agent_count: z.number().int(),
  created_at: instantOutput,
  updated_at: instantOutput,
});

export const orgListOutput = z.object({ organizations: z.array(orgOutput), next_cursor: z.string().nullable() });
export const orgDeleteOutput = z.object({ success: z.literal(true), id: z.string(), slug: z.string() });
export const orgToggleOutput = z.object({ id: z.string(), is_active: z.boolean() });

export type OrgCreateInput = z.infer<typeof orgCreateInput>;
export type OrgUpdateInput = z.infer<typeof orgUpdateInput>;
export type Org = z.infer<typeof orgOutput>;
