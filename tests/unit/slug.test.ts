import { describe, expect, test } from "bun:test";
import { randomSlug, RESERVED_SLUGS, slugCandidate, slugify, slugProblem } from "../../server/shared/slug";

describe("slug generation (docs/api.md, Slugs)", () => {
  test("folds accents and lower-cases", () => {
    expect(slugify("Café Noir")).toBe("cafe-noir");
    expect(slugify("AgenticMail")).toBe("agenticmail");
    expect(slugify("Ærø Straße Łódź")).toBe("aero-strasse-lodz");
  });
  test("turns runs of other characters into one dash and trims dashes", () => {
    expect(slugify("  --Acme,  Inc. & Co!!  ")).toBe("acme-inc-co");
    expect(slugify("a___b")).toBe("a-b");
  });
  test("yields nothing for names without ASCII letters or digits", () => {
    expect(slugify("東京")).toBe("");
    expect(slugify("!!!")).toBe("");
  });
  test("caps at 64 characters without a trailing dash", () => {
    const slug = slugify("a".repeat(63) + " bcd");
    expect(slug.length).toBeLessThanOrEqual(64);
    expect(slug.endsWith("-")).toBe(false);
    expect(slug).toBe("a".repeat(63));
  });
  test("a slug shaped like a UUID is refused, in either case (it would be taken for an id)", () => {
    expect(slugProblem("0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a")).toBe("must not look like a UUID (it would be taken for an organization id)");
    expect(slugProblem("00000000-0000-4000-8000-000000000001")).not.toBeNull();
    // Almost a UUID is an ordinary slug.
    expect(slugProblem("0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5")).toBeNull();
    expect(slugProblem("0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a-x")).toBeNull();
  });
  test("random slugs are org- plus six characters and valid", () => {
    const slug = randomSlug();
    expect(slug).toMatch(/^org-[a-z0-9]{6}$/);
    expect(slugProblem(slug)).toBeNull();
  });
  test("candidates count up with -2, -3 within the length limit", () => {
    expect(slugCandidate("acme", 1)).toBe("acme");
    expect(slugCandidate("acme", 3)).toBe("acme-3");
    expect(slugCandidate("x".repeat(64), 12).length).toBe(64);
  });
  test("explicit slugs are checked for pattern, length and reserved words", () => {
    expect(slugProblem("good-slug-1")).toBeNull();
    expect(slugProblem("Bad")).not.toBeNull();
    expect(slugProblem("a--b")).not.toBeNull();
    expect(slugProblem("-a")).not.toBeNull();
    expect(slugProblem("a".repeat(65))).not.toBeNull();
    for (const reserved of RESERVED_SLUGS) expect(slugProblem(reserved)).toContain("reserved");
  });
});
