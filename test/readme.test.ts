import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { editorDelegatesToGuest } from '../examples/readme/delegation.js';
import { editorUpdatesAdminSees } from '../examples/readme/pushes.js';
import { createVideoServer } from '../examples/readme/server.js';
import type { CapsyncServer } from '../server/index.js';
import { SECRET } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's snippets: a `<!-- snippet: path#region -->` marker followed by a fenced block. */
function snippets(): { path: string; region: string; code: string }[] {
  const found = [];
  const pattern = /<!-- snippet: ([^#\s]+)#(\S+) -->\n```ts\n([\s\S]*?)```/g;
  for (const m of readme.matchAll(pattern)) found.push({ path: m[1]!, region: m[2]!, code: m[3]! });
  return found;
}

function region(path: string, name: string): string {
  const text = readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
  const start = text.indexOf(`// #region ${name}\n`);
  if (start >= 0) {
    const body = text.slice(start + `// #region ${name}\n`.length, text.indexOf('// #endregion', start));
    const lines = body.split('\n');
    const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
    return lines.map((l) => l.slice(indent)).join('\n').trimEnd() + '\n';
  }
  // A whole class: from `export class` to the end of the file.
  if (name === 'class') return text.slice(text.indexOf('export class')).trimEnd() + '\n';
  throw new Error(`no region ${name} in ${path}`);
}

let server: CapsyncServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('README', () => {
  it('opens with the two set-up commands', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(firstBlock).toMatch(/^npm ci && npm start/m);
    expect(firstBlock).toMatch(/^npm test/m);
  });

  it('shows every snippet exactly as it stands in examples/', () => {
    const found = snippets();
    expect(found.length).toBeGreaterThanOrEqual(4);
    for (const s of found) expect(s.code, `${s.path}#${s.region}`).toBe(region(s.path, s.region));
  });

  it('runs the server and client snippets: the admin sees the editor\'s update', async () => {
    server = await createVideoServer(SECRET);
    await server.listen(0, '127.0.0.1');
    const tokens = {
      admin: await server.auth.issue({ id: 'admin', roles: ['admin'] }),
      editor: await server.auth.issue({ id: 'editor', roles: ['editor'] }),
    };
    expect(await editorUpdatesAdminSees(server.url, tokens)).toBe('Now in 4K');
  });

  it('runs the delegation snippet: the guest edits, is revoked, the editor keeps control', async () => {
    server = await createVideoServer(SECRET);
    await server.listen(0, '127.0.0.1');
    const tokens = {
      editor: await server.auth.issue({ id: 'editor', roles: ['editor'] }),
      guest: await server.auth.issue({ id: 'guest', roles: [] }),
    };
    expect(await editorDelegatesToGuest(server.url, tokens)).toEqual(['ERR_CAPABILITY_REVOKED', 'edited by the guest, thanks to editor']);
  });
});
