// Types of chunk-groups.js (plain JavaScript so that vite.config.ts imports it with its extension).
export const FRAMEWORK: RegExp;
export const OWN_SHARED: RegExp;
export const OWN_SMALL: RegExp;
export const chunkGroups: { name: string; test: RegExp; priority: number; minShareCount?: number; maxModuleSize?: number }[];
