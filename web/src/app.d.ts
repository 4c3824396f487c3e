// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
  namespace App {}
  interface Window {
    /** `GET /trpc/auth.me` started by app.html before the app's code loads (lib/auth.ts). */
    __orgdeskSession?: Promise<{ result?: { data?: unknown } } | null>;
  }
}

export {};
