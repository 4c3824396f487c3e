import type { Ctx } from "../../server/context";
import * as agents from "../../server/modules/agents/service";
import { agentCreateInput } from "../../server/modules/agents/schema";
import { orgCreateInput } from "../../server/modules/orgs/schema";
import * as orgs from "../../server/modules/orgs/service";

let seq = 0;
const unique = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

/** Creates an organization through the service, with a unique name unless given. */
export function makeOrg(ctx: Ctx, input: Record<string, unknown> = {}) {
  return orgs.create({ ctx, input: orgCreateInput.parse({ name: `Org ${unique()}`, ...input }) });
}

/** Creates an agent through the service, with a unique name unless given. */
export function makeAgent(ctx: Ctx, input: Record<string, unknown> = {}) {
  return agents.create({ ctx, input: agentCreateInput.parse({ name: `Agent ${unique()}`, ...input }) });
}
