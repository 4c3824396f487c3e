export * from "./columns";
export * from "./orgs";
export * from "./agents";
export * from "./audit";
export * from "./billing";
export * from "./access";
export * from "./reads";
