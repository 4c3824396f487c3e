import { z } from "zod";
import { emailInput } from "../../shared/fields";
import { passwordInput } from "../users/schema";

export const setupInput = z.strictObject({ email: emailInput, password: passwordInput });

/** Sign-in takes any strings: a malformed email is simply a wrong one (and counts as a failure). */
export const signInInput = z.strictObject({
  email: z.string({ error: "must be a string" }).min(1, "is required").max(254, "is too long"),
  password: z.string({ error: "must be a string" }).min(1, "is required").max(200, "is too long"),
});

export const meOutput = z.object({
  kind: z.enum(["user", "api_key"]),
  user: z.object({ id: z.string(), email: z.string(), role: z.enum(["owner", "admin", "member", "viewer"]) }).nullable(),
  key: z.object({ id: z.string().nullable(), prefix: z.string(), permission: z.enum(["read", "write", "usage"]) }).nullable(),
  /** The organization the caller is confined to (binding or key scope), or null for the platform. */
  org: z.object({ id: z.string(), name: z.string(), slug: z.string() }).nullable(),
  /** Whether token cost and margin are shown to this caller. */
  sees_costs: z.boolean(),
  /** Every action the policy allows this caller (for the web app to hide what it cannot do). */
  permissions: z.array(z.string()),
});

export const setupStatusOutput = z.object({ setup_required: z.boolean() });

export type Me = z.infer<typeof meOutput>;
