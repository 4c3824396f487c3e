/** The currencies an organization may bill in (the database's currency check lists the same). Pure: the web app imports it. */
export const CURRENCY_CODES = ["USD", "EUR", "GBP", "NGN", "CAD", "AUD"] as const;

export type CurrencyCode = (typeof CURRENCY_CODES)[number];
