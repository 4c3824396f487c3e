import { UUID_PATTERN as CASELESS_UUID_PATTERN } from "../../db/schema/formats";

/**
 * A UUID in either case, spelled without the `i` flag: schemas copy their patterns into the OpenAPI
 * document, and a JSON Schema pattern carries no flags. Derived from the database's pattern, so the
 * two cannot drift.
 */
export const UUID_PATTERN = new RegExp(CASELESS_UUID_PATTERN.source.replaceAll("a-f", "a-fA-F"));

export const isUuid = (s: string) => UUID_PATTERN.test(s);
