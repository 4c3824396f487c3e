import { agentCreateInput } from "../../server/modules/agents/schema";
import * as agentService from "../../server/modules/agents/service";
import { orgCreateInput } from "../../server/modules/orgs/schema";
import * as orgService from "../../server/modules/orgs/service";
import { ctxFor } from "../support/actors";
import { datasetDatabase, migrationsHash } from "./lib/databases";

/** Version of what this file puts into the database; bump it when the data changes. */
const DATASET_VERSION = 2;
export const API_ORGS = 100;
const AGENTS = 500;
const CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "NGN"] as const;

/**
 * The database B1, B2 and B6 read: 100 organizations (the internal one and 99 clients in six
 * currencies, some inactive) and 500 agents, created through the services. Built once per schema
 * and reused (`orgdesk_bench_api_<migrations hash>_v<version>`).
 */
export async function apiDatabase(log: (s: string) => void): Promise<string> {
  const name = `orgdesk_bench_api_${migrationsHash()}_v${DATASET_VERSION}`;
  return datasetDatabase(name, "orgdesk_bench_api_", log, async (database) => {
    const ctx = ctxFor(database);
    const orgIds: string[] = [];
    for (let i = 1; i < API_ORGS; i++) {
      const org = await orgService.create({
        ctx,
        input: orgCreateInput.parse({
          name: `Client ${String(i).padStart(3, "0")} ${["Holdings", "Labs", "Logistics", "Health", "Retail"][i % 5]}`,
          contact_name: `Contact ${i}`,
          contact_email: `ops${i}@client${i}.example`,
          description: i % 3 === 0 ? `Managed support and sales agents for client ${i}.` : undefined,
          billing_rate_per_agent: `${49 + (i % 7) * 25}.00`,
          currency: CURRENCIES[i % CURRENCIES.length],
        }),
      });
      orgIds.push(org.id);
    }
    for (let i = 0; i < AGENTS; i++) {
      await agentService.create({
        ctx,
        input: agentCreateInput.parse({ name: `Agent ${String(i).padStart(4, "0")}`, org_id: i % 10 === 9 ? undefined : orgIds[i % orgIds.length] }),
      });
    }
    for (let i = 0; i < orgIds.length; i += 9) await orgService.toggle({ ctx, input: { id: orgIds[i]!, is_active: false } });
  });
}
