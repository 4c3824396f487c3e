import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../../../server/trpc/router";

/** Shapes of what the server sends, inferred from the router: renaming a server field breaks the build. */
export type Outputs = inferRouterOutputs<AppRouter>;
export type Inputs = inferRouterInputs<AppRouter>;

export type Org = Outputs["orgs"]["list"]["organizations"][number];
export type OrgDetail = Outputs["orgs"]["get"];
export type Agent = Outputs["agents"]["list"]["agents"][number];
export type AssignableAgent = Outputs["agents"]["assignable"][number];
export type Budget = Outputs["budgets"]["list"]["budgets"][number];
export type BudgetAlert = Outputs["alerts"]["list"]["alerts"][number];
