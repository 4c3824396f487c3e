/**
 * LIKE / ILIKE patterns from text a user typed: `%`, `_` and `\` are taken literally (escaped with
 * PostgreSQL's default escape character), so a search for "50%" finds "50%", not everything.
 */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => "\\" + c);

/** Matches values that contain `text`. */
export const containsPattern = (text: string) => `%${escapeLike(text)}%`;

/** Matches values that start with `text`. */
export const prefixPattern = (text: string) => `${escapeLike(text)}%`;
