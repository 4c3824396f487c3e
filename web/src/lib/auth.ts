import { goto } from "$app/navigation";
import { api, problemOf } from "./api";
import { type Me, session } from "./session.svelte";

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

/**
 * The answer to the `auth.me` request app.html sent while the app's code was downloading, taken
 * once: the first screen does not wait for a round trip that could start earlier. Anything but a
 * successful answer (signed out, a network error) is asked again through tRPC, which explains it.
 */
async function earlySession(): Promise<Me | null> {
  const early = window.__orgdeskSession;
  window.__orgdeskSession = undefined;
  const body = early ? await early : null;
  return (body?.result?.data as Me | undefined) ?? null;
}

async function fetchSession(): Promise<void> {
  try {
    session.signedIn((await earlySession()) ?? (await api.auth.me.query()));
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
