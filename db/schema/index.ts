export * from "./formats";
export * from "./columns";
export * from "./orgs";
export * from "./agents";
export * from "./audit";
export * from "./prices";
export * from "./usage";
export * from "./access";
