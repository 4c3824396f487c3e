-- A slug shaped like a UUID is refused from now on (a UUID in a path is taken as an organization
-- id, so such a slug could never be reached). The next migration adds it to the CHECK constraint;
-- an existing one becomes "org-" and its 32 hex digits: still unique (the digits were), still a
-- valid slug of 36 characters, and clearly derived from the old one.
UPDATE "organizations"
SET "slug" = 'org-' || replace(lower("slug"), '-', ''), "updated_at" = now()
WHERE "slug" ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
