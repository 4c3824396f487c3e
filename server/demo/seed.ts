import type { Ctx } from "../context";
import { agentAssignInput, agentCreateInput, agentUpdateInput } from "../modules/agents/schema";
import * as agents from "../modules/agents/service";
import { orgCreateInput, orgUpdateInput } from "../modules/orgs/schema";
import * as orgs from "../modules/orgs/service";
import { addMonths, monthOf, monthStart } from "../shared/time";

/**
 * Demo data, created through the same services (and backdating) an import of existing clients
 * uses: organizations in several currencies, a few dozen agents, moves, rate changes and a
 * deactivation over the last twelve months. Deterministic for a given `now`.
 */
export const DEMO_ORGS = [
  { name: "AgenticMail", currency: "USD", rate: "99.00", contact: ["Dana Whitfield", "dana@agenticmail.example"], agents: ["Inbox Triage", "Reply Drafter", "Spam Sentinel", "Thread Summarizer", "Calendar Scout", "Newsletter Writer"] },
  { name: "Café Noir Studio", currency: "EUR", rate: "79.00", contact: ["Élodie Marchand", "elodie@cafenoir.example"], agents: ["Menu Translator", "Review Responder", "Booking Concierge", "Social Poster"] },
  { name: "Brightline Logistics", currency: "GBP", rate: "120.00", contact: ["Oliver Grant", "ops@brightline.example"], agents: ["Route Planner", "Customs Clerk", "Delivery Notifier", "Claims Assistant", "Fleet Monitor"] },
  { name: "Lagos Fintech Hub", currency: "NGN", rate: "150000.00", contact: ["Adaeze Okafor", "adaeze@lagosfintech.example"], agents: ["KYC Reviewer", "Fraud Watch", "Support Desk NG", "Loan Underwriter"] },
  { name: "Maple Support Co", currency: "CAD", rate: "89.00", contact: ["Liam Tremblay", "liam@maplesupport.example"], agents: ["Ticket Router", "Knowledge Curator", "Bilingual Helper"] },
  { name: "Harbour Health", currency: "AUD", rate: "110.00", contact: ["Mia Nguyen", "mia@harbourhealth.example"], agents: ["Intake Assistant", "Referral Writer", "Appointment Reminder", "Claims Coder"] },
  { name: "Northwind Legal", currency: "USD", rate: "250.00", contact: ["Grace Holt", "grace@northwind.example"], agents: ["Contract Reviewer", "Discovery Indexer", "Citation Checker"] },
  { name: "Quiet Pines Retreats", currency: "USD", rate: "45.00", contact: ["Sam Rivera", "sam@quietpines.example"], agents: ["Guest Concierge"] },
] as const;

const POOL_AGENTS = ["Research Intern", "QA Shadow", "Prompt Lab", "Onboarding Trainer"];

export interface DemoSummary {
  organizations: number;
  agents: number;
  moves: number;
  rateChanges: number;
}

/** True when the demo organizations already exist (seeding runs once per database). */
export async function isSeeded(ctx: Ctx): Promise<boolean> {
  const found = await orgs.list({ ctx, input: { q: "AgenticMail", limit: 1 } });
  return found.organizations.length > 0;
}

export async function seedDemo(ctx: Ctx, now = new Date()): Promise<DemoSummary> {
  const current = monthOf(now);
  const start = monthStart(addMonths(current, -12));
  const at = (monthsAgo: number, day: number, hour = 9) => {
    const m = monthStart(addMonths(current, -monthsAgo));
    return new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth(), day, hour)).toISOString();
  };
  const summary: DemoSummary = { organizations: 0, agents: 0, moves: 0, rateChanges: 0 };
  const orgIds: Record<string, string> = {};
  const agentIds: Record<string, string> = {};

  for (const [i, spec] of DEMO_ORGS.entries()) {
    const created = new Date(start.getTime() + i * 3 * 86_400_000).toISOString();
    const org = await orgs.create({
      ctx,
      input: orgCreateInput.parse({
        name: spec.name,
        currency: spec.currency,
        billing_rate_per_agent: spec.rate,
        contact_name: spec.contact[0],
        contact_email: spec.contact[1],
        description: `${spec.name} — managed AI agents since ${created.slice(0, 7)}`,
        created_at: created,
      }),
    });
    orgIds[spec.name] = org.id;
    summary.organizations++;
    for (const [j, name] of spec.agents.entries()) {
      const agentCreated = new Date(Date.parse(created) + (j + 1) * 86_400_000).toISOString();
      const agent = await agents.create({
        ctx,
        input: agentCreateInput.parse({ name, org_id: org.id, email: `${name.toLowerCase().replace(/[^a-z]+/g, ".")}@agents.orgdesk.example`, created_at: agentCreated }),
      });
      agentIds[name] = agent.id;
      summary.agents++;
    }
  }
  for (const name of POOL_AGENTS) {
    const agent = await agents.create({ ctx, input: agentCreateInput.parse({ name, created_at: at(11, 20) }) });
    agentIds[name] = agent.id;
    summary.agents++;
  }

  const move = async (agent: string, org: string, when: string) => {
    await agents.assign({ ctx, input: agentAssignInput.parse({ id: agentIds[agent], orgId: orgIds[org] ?? org, effective_at: when }) });
    summary.moves++;
  };
  const agentRate = async (agent: string, rate: string | null, when: string) => {
    await agents.update({ ctx, input: agentUpdateInput.parse({ id: agentIds[agent], billingRate: rate, effective_at: when }) });
    summary.rateChanges++;
  };

  // Custom rates: a discounted agent, a premium agent, a free pilot agent.
  await agentRate("Newsletter Writer", "49.00", at(10, 1));
  await agentRate("Contract Reviewer", "320.00", at(9, 15));
  await agentRate("Guest Concierge", "0.00", at(8, 1));
  // Moves between clients mid-month, and pool agents placed with clients.
  await move("Research Intern", "Northwind Legal", at(9, 10));
  await move("Prompt Lab", "AgenticMail", at(7, 10));
  await move("Calendar Scout", "Café Noir Studio", at(6, 10));
  await move("Research Intern", "Brightline Logistics", at(4, 18));
  await move("QA Shadow", "Maple Support Co", at(3, 5));
  await move("Thread Summarizer", "internal", at(2, 20));
  // A custom rate set mid-month and later cleared.
  await agentRate("Fraud Watch", "175000.00", at(5, 12));
  await agentRate("Fraud Watch", null, at(3, 1));
  // Default rate changes (never retroactive).
  await orgs.update({ ctx, input: orgUpdateInput.parse({ id: orgIds["AgenticMail"], billing_rate_per_agent: "109.00", effective_at: at(4, 1) }) });
  await orgs.update({ ctx, input: orgUpdateInput.parse({ id: orgIds["Maple Support Co"], billing_rate_per_agent: "95.00", effective_at: at(2, 15) }) });
  summary.rateChanges += 2;
  // Harbour Health deactivated for five days two months ago; Quiet Pines inactive since last month.
  await orgs.toggle({ ctx, input: { id: orgIds["Harbour Health"]!, is_active: false, effective_at: new Date(at(2, 10)) } });
  await orgs.toggle({ ctx, input: { id: orgIds["Harbour Health"]!, is_active: true, effective_at: new Date(at(2, 15)) } });
  await orgs.toggle({ ctx, input: { id: orgIds["Quiet Pines Retreats"]!, is_active: false, effective_at: new Date(at(1, 1)) } });
  // An agent retired last month.
  await agents.update({ ctx, input: agentUpdateInput.parse({ id: agentIds["Loan Underwriter"], status: "archived", effective_at: at(1, 20) }) });
  return summary;
}
