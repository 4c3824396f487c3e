/**
 * The currencies an organization may bill in, for the web app: one list, kept with the database's
 * CHECK constraint in db/schema/formats.ts (pure, imports nothing; importing it through
 * server/shared/fields.ts would pull zod into the web bundle).
 */
export { CURRENCIES, type Currency } from "../../db/schema/formats";
