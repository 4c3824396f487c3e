import { UUID_PATTERN } from "../../db/schema/formats";

export { UUID_PATTERN };

export const isUuid = (s: string) => UUID_PATTERN.test(s);
