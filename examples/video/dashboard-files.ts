import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

const FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/dashboard.js': 'dashboard.js',
  '/dashboard.js.map': 'dashboard.js.map',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript', map: 'application/json' };

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
 * request path ever reaches the file system.
 */
export function dashboardHandler(): (request: IncomingMessage, response: ServerResponse) => boolean {
  const dir = dashboardDir();
  const cache = new Map<string, Buffer>();
  return (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = Object.prototype.hasOwnProperty.call(FILES, path) ? FILES[path] : undefined;
    if (file === undefined || dir === undefined || request.method !== 'GET') return false;
    let body = cache.get(file);
    if (body === undefined) cache.set(file, (body = readFileSync(dir + file)));
    response.writeHead(200, { 'content-type': TYPES[file.split('.').pop()!]!, 'content-length': body.length });
    response.end(body);
    return true;
  };
}
