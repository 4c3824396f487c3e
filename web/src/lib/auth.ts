import { goto } from "$app/navigation";
import { api, problemOf } from "./api";
import { session } from "./session.svelte";

/**
 * Loads who is signed in. Anonymous visitors go to sign in, or to the one-time owner setup on a
 * fresh install.
 */
export function loadSession(): Promise<void> {
  // One request at a time: the layout's load starts it, the layout's component waits for the same one.
  pending ??= fetchSession().finally(() => (pending = undefined));
  return pending;
}
let pending: Promise<void> | undefined;

async function fetchSession(): Promise<void> {
  try {
    session.signedIn(await api.auth.me.query());
  } catch (err) {
    if (problemOf(err).status !== 401) throw err;
    const { setup_required } = await api.auth.setupStatus.query().catch(() => ({ setup_required: false }));
    if (setup_required) await goto("/setup", { replaceState: true });
    else session.expired();
  }
}

export async function signOut(): Promise<void> {
  await api.auth.signOut.mutate().catch(() => {});
  session.signedOut();
  await goto("/login", { replaceState: true });
}
