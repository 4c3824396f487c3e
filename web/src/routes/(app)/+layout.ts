import { browser } from "$app/environment";
import { loadSession } from "$lib/auth";
import { session } from "$lib/session.svelte";

/**
 * Asks who is signed in as soon as the route's code has loaded, before the layout first renders
 * (its component waits for the same request and shows its error). Not awaited: the layout draws
 * its loading state meanwhile.
 */
export function load() {
  if (browser && !session.ready) loadSession().catch(() => {});
}
