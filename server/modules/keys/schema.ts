import { z } from "zod";
import { instantOutput, orgRef, text, uuidString } from "../../shared/fields";

export const keyCreateInput = z.strictObject({
  name: text(128, 1),
  permission: z.enum(["read", "write", "usage"], { error: "must be read, write or usage" }),
  /** Organization id or slug for an organization-scoped key; absent or null = platform key. */
  org_id: orgRef.nullable().optional(),
});

export const keyIdInput = z.object({ id: uuidString });

export const keyOutput = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  permission: z.enum(["read", "write", "usage"]),
  org_id: z.string().nullable(),
  org_name: z.string().nullable(),
  created_by: z.string().nullable(),
  created_at: instantOutput,
  last_used_at: instantOutput.nullable(),
  revoked_at: instantOutput.nullable(),
});

export const keyListOutput = z.object({ keys: z.array(keyOutput) });
/** The created key: the only time the secret is ever shown. */
export const keyCreateOutput = keyOutput.extend({ key: z.string() });

export type ApiKey = z.infer<typeof keyOutput>;
