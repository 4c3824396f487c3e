/**
 * The organizations grid's first paint comes with the HTML: this page is rendered at build time
 * (without a session or data: the chrome, the heading, the search and a loading grid) and the app
 * takes it over when its code has loaded (docs/web.md, "First visit").
 */
export const prerender = true;
export const ssr = true;

/** The (app) layout draws the page before the session is known (it would show a spinner otherwise). */
export const load = () => ({ beforeSession: true });
