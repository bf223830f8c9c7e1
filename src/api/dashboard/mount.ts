// Where the dashboard is mounted. `serve` mounts it at the root; a host application may
// mount the whole app under a prefix (`host.route('/gateway', probe.app)`), so every link,
// form action, redirect and script fetch is built from the prefix the request came through.
import type { Context } from 'hono';
import { createContext, useContext } from 'hono/jsx';
import { basePath } from 'hono/route';

/** The mount prefix while a page renders: '' at the root, '/gateway' under a prefix. */
export const MountContext = createContext('');

/** The prefix of the route that is answering: '' at the root, never a trailing slash. */
export function mountOf(c: Context): string {
  return basePath(c).replace(/\/+$/, '');
}

/**
 * A dashboard path (`/`, `/upstreams/x`, `/?probe=1`) under the mount. The overview of a
 * prefixed mount is the prefix itself (`/gateway`, not `/gateway/`, which Hono does not route).
 */
export function underMount(mount: string, path: string): string {
  if (!mount) return path;
  return path === '/' || path.startsWith('/?') || path.startsWith('/#')
    ? `${mount}${path.slice(1)}`
    : `${mount}${path}`;
}

/** The prefix of the page being rendered (for JSX components). */
export function useMount(): string {
  return useContext(MountContext);
}

/** `underMount` with the prefix of the page being rendered (for JSX components). */
export function useHref(path: string): string {
  return underMount(useContext(MountContext), path);
}
