// A client-rendered single-page app: the server serves index.html for every app route, except a
// page that turns prerendering on for itself (docs/web.md, "First visit").
export const ssr = false;
export const prerender = false;
export const trailingSlash = "never";
