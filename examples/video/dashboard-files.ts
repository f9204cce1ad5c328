import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { originAllowed, type OriginPolicy } from '../../server/node/http.js';

const FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/dashboard.js': 'dashboard.js',
  '/dashboard.js.map': 'dashboard.js.map',
  '/dashboard.css': 'dashboard.css',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript', map: 'application/json', css: 'text/css' };

/** What the page needs to know of the server's setup to explain, rather than fail, when it cannot connect. */
export interface DashboardSettings {
  /** The development login's user names, or undefined when it is off. */
  readonly devUsers?: readonly string[];
  /** The `--origin` policy the listener applies to the upgrade. */
  readonly origins?: OriginPolicy;
}

/**
 * Where `npm run build` puts the dashboard bundle (scripts/build-dashboard.mjs): `public/` next to the compiled
 * module in dist/examples/video/, or the same folder under dist/ when this runs from its source (tests).
 */
function dashboardDir(): string | undefined {
  for (const candidate of ['./public/', '../../dist/examples/video/public/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/**
 * Serves the demo's live dashboard (built by `npm run build`): a fixed list of files, nothing else, so no
 * request path ever reaches the file system. `GET /dashboard/setup.json?origin=<the page's origin>` tells
 * the page whether the development login is on and whether the listener would let that origin connect
 * (the same check as the upgrade's), so a page the server would refuse says why and which flag fixes it.
 */
export function dashboardHandler(settings: DashboardSettings = {}): (request: IncomingMessage, response: ServerResponse) => boolean {
  const dir = dashboardDir();
  const cache = new Map<string, Buffer>();
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET') return false;
    if (url.pathname === '/dashboard/setup.json') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(setupFor(request, url.searchParams.get('origin'), settings)));
      return true;
    }
    const path = url.pathname;
    const file = Object.prototype.hasOwnProperty.call(FILES, path) ? FILES[path] : undefined;
    if (file === undefined || dir === undefined) return false;
    let body = cache.get(file);
    if (body === undefined) cache.set(file, (body = readFileSync(dir + file)));
    response.writeHead(200, { 'content-type': TYPES[file.split('.').pop()!]!, 'content-length': body.length });
    response.end(body);
    return true;
  };
}

function setupFor(request: IncomingMessage, origin: string | null, settings: DashboardSettings): Record<string, unknown> {
  const origins = settings.origins ?? null;
  // The upgrade's own check, asked about the page's origin: a missing one is a browser that sends none.
  const allowed = origin === null || originAllowed({ headers: { origin, host: request.headers.host } } as IncomingMessage, settings.origins);
  return {
    devLogin: settings.devUsers !== undefined,
    users: settings.devUsers ?? [],
    originAllowed: allowed,
    origins: typeof origins === 'string' ? origins : origins === null ? null : [...origins],
  };
}
