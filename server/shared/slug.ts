import { SLUG_MAX, SLUG_PATTERN } from "../../db/schema/formats";
import { isUuid } from "./uuid";

/**
 * Organization slugs (docs/api.md, "Slugs"): ASCII-folded, lower-case, dash-separated, at most 64
 * characters, never a reserved word, never shaped like a UUID.
 */
export { SLUG_MAX, SLUG_PATTERN };
export const RESERVED_SLUGS = new Set(["internal", "new", "api", "admin", "settings"]);

// Letters that Unicode decomposition does not fold to ASCII.
const SPECIAL: Record<string, string> = {
  ß: "ss", æ: "ae", Æ: "ae", œ: "oe", Œ: "oe", ø: "o", Ø: "o", đ: "d", Đ: "d", ð: "d", Ð: "d",
  ł: "l", Ł: "l", þ: "th", Þ: "th", ı: "i", ħ: "h", Ħ: "h", ŋ: "n", Ŋ: "n",
};

/** The slug a name yields, or "" when nothing ASCII remains (the caller then adds a random one). */
export function slugify(name: string): string {
  const folded = name
    .replace(/[ßæÆœŒøØđĐðÐłŁþÞıħĦŋŊ]/g, (ch) => SPECIAL[ch] ?? ch)
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase();
  let slug = folded.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  if (slug.length > SLUG_MAX) slug = slug.slice(0, SLUG_MAX).replace(/-+$/, "");
  return slug;
}

/** Why a caller-given slug is unacceptable, or null when it is fine. */
export function slugProblem(slug: string): string | null {
  if (slug.length === 0) return "must not be empty";
  if (slug.length > SLUG_MAX) return `must be at most ${SLUG_MAX} characters`;
  if (!SLUG_PATTERN.test(slug)) return "must be lower-case letters and digits separated by single dashes";
  if (RESERVED_SLUGS.has(slug)) return `"${slug}" is reserved`;
  // A UUID in a path is taken as an id, so such a slug could never be reached by slug.
  if (isUuid(slug)) return "must not look like a UUID (it would be taken for an organization id)";
  return null;
}

/** A slug for a name that yields no ASCII: `org-` and six random base-36 characters. */
export function randomSlug(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return "org-" + Array.from(bytes, (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
}

/** `base`, then `base-2`, `base-3`, …, each within the length limit. */
export function slugCandidate(base: string, attempt: number): string {
  if (attempt <= 1) return base;
  const suffix = `-${attempt}`;
  return base.slice(0, SLUG_MAX - suffix.length).replace(/-+$/, "") + suffix;
}
