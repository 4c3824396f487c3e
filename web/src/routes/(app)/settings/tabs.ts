import { session } from "$lib/session.svelte";

/** The settings sections this user may open, in order. */
export function settingsTabs() {
  return [
    { href: "/settings/prices", label: "Model prices", show: session.can("prices.read") },
    { href: "/settings/fx", label: "FX rates", show: session.can("prices.read") },
    { href: "/settings/users", label: "Users", show: session.can("users.manage") },
    { href: "/settings/keys", label: "API keys", show: session.can("keys.manage") },
    // Platform-wide settings: staff only, editable with invoices.manage.
    { href: "/settings/invoicing", label: "Invoicing", show: session.can("billing.read") && !session.bound },
    { href: "/settings/integrations", label: "Integrations", show: session.can("integrations.read") },
    { href: "/settings/webhooks", label: "Webhooks", show: session.can("webhooks.manage") },
    { href: "/settings/audit", label: "Audit log", show: session.can("audit.read") },
  ].filter((t) => t.show);
}
