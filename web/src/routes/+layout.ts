// A client-rendered single-page app: the server serves index.html for every app route.
export const ssr = false;
export const prerender = false;
export const trailingSlash = "never";
