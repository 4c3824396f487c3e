import { z } from "zod";
import { emailInput, instantOutput, orgRef, uuidString } from "../../shared/fields";

export const roleInput = z.enum(["owner", "admin", "member", "viewer"], { error: "must be owner, admin, member or viewer" });

/** Passwords: 8 to 200 characters (argon2id takes any length; the bound keeps hashing cheap to refuse). */
export const passwordInput = z
  .string({ error: "must be a string" })
  .min(8, "must be at least 8 characters")
  .max(200, "must be at most 200 characters");

export const userCreateInput = z.strictObject({
  email: emailInput,
  password: passwordInput,
  role: roleInput,
  /** Organization id or slug the user is confined to; absent or null = the whole platform. */
  org_id: orgRef.nullable().optional(),
});

export const userUpdateInput = z.strictObject({
  id: uuidString,
  role: roleInput.optional(),
  /** Binds the user to an organization (id or slug); null unbinds. */
  org_id: orgRef.nullable().optional(),
  is_active: z.boolean({ error: "must be true or false" }).optional(),
  /** Sets a new password; every session of the user ends. */
  password: passwordInput.optional(),
  email: z.unknown().optional().refine((v) => v === undefined, "cannot be changed; create a new user"),
});

export const userOutput = z.object({
  id: z.string(),
  email: z.string(),
  role: roleInput,
  org_id: z.string().nullable(),
  org_name: z.string().nullable(),
  is_active: z.boolean(),
  created_at: instantOutput,
  updated_at: instantOutput,
});

export const userListOutput = z.object({ users: z.array(userOutput) });

export type User = z.infer<typeof userOutput>;
