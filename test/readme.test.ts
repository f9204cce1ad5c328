import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { editorDelegatesToGuest } from '../examples/readme/delegation.js';
import { editorUpdatesAdminSees } from '../examples/readme/pushes.js';
import { createVideoServer } from '../examples/readme/server.js';
import { adaWritesBobWatches } from '../examples/app/node-client.js';
import { startNotesServer } from '../examples/app/server.js';
import { issueElsewhere, issueWithCapsync, serverTrustingIdp } from '../examples/app/tokens.js';
import { connect } from '../client/index.js';
import type { NotesApi } from '../examples/app/functions.js';
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

/**
 * The examples import capsync by relative path (they are compiled and run inside this repository); the README
 * shows the package names a user writes, so `test/package/fresh-project.test.ts` can compile them as pasted.
 */
const PACKAGE_NAMES: Record<string, string> = {
  '../../protocol/index.js': 'capsync',
  '../../server/index.js': 'capsync/server',
  '../../client/index.js': 'capsync/client',
  '../../client/browser.js': 'capsync/client',
  '../../testing/index.js': 'capsync/testing',
};

function published(code: string): string {
  return code.replace(/from '(\.\.\/\.\.\/[^']+)'/g, (whole, path: string) => (PACKAGE_NAMES[path] ? `from '${PACKAGE_NAMES[path]}'` : whole));
}

function region(path: string, name: string): string {
  return published(fileRegion(path, name));
}

function fileRegion(path: string, name: string): string {
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

const APP_SECRET = 'notes-secret-notes-secret-notes-secret-0123';

describe('README', () => {
  it('opens with set-up commands that can be pasted as they are: the server, which never returns, last', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const commands = firstBlock.split('\n').filter((l) => l.trim()).map((l) => l.replace(/\s+#.*$/, ''));
    expect(commands).toEqual(['npm ci', 'npm test', 'npm start -- --port 8080']);
    const after = readme.slice(readme.indexOf(firstBlock) + firstBlock.length + 4); // past the closing fence
    const needs = after.slice(0, after.indexOf('\n\n', 2));
    for (const need of ['Node >= 20.10', 'C++ toolchain', 'better-sqlite3', 'Chromium']) expect(needs).toContain(need);
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

  describe('Build your own app', () => {
    it('shows every file of examples/app/ that the section names, with package imports', () => {
      const shown = snippets().filter((s) => s.path.startsWith('examples/app/')).map((s) => s.path);
      for (const file of ['note.ts', 'functions.ts', 'server.ts', 'main.ts', 'tokens.ts', 'node-client.ts', 'client-main.ts', 'browser.ts']) {
        expect(shown).toContain(`examples/app/${file}`);
      }
      const section = readme.slice(readme.indexOf('## Build your own app'), readme.indexOf('\n## ', readme.indexOf('## Build your own app') + 5));
      expect(section).not.toMatch(/from '\.\.\/\.\.\//); // capsync by its package names only
      // Every port the section mentions comes with the flag that changes it.
      for (const line of section.split('\n').filter((l) => /:8080\b/.test(l) && /^\s*(NOTES_|node |npx )/.test(l))) expect(line).toMatch(/--port|--url/);
    });

    it('runs the Node client against the server: Bob sees Ada\'s edit as a push and cannot edit himself', async () => {
      server = await startNotesServer({ port: 0, host: '127.0.0.1', secret: APP_SECRET, logLevel: 'warn' });
      const app = server;
      const outcome = await adaWritesBobWatches(server.url, (user) => app.auth.issue(user === 'ada' ? { id: 'ada', roles: ['writer'] } : { id: 'bob', roles: [] }));
      expect(outcome).toEqual(['milk, eggs', 'ERR_CAPABILITY_MISMATCH']);
    });

    it('refuses a note from a user who is not a writer, with the schema as the runtime check', async () => {
      server = await startNotesServer({ port: 0, host: '127.0.0.1', secret: APP_SECRET, logLevel: 'warn' });
      const bob = await connect<NotesApi>(server.url, { token: await server.auth.issue({ id: 'bob', roles: [] }) });
      try {
        expect(await bob.call('create_note', 'Mine').catch((err: { code: string }) => err.code)).toBe('ERR_FORBIDDEN');
        const untyped = bob as unknown as { call(name: string, ...args: unknown[]): Promise<unknown> };
        expect(await untyped.call('create_note', 42).catch((err: { code: string }) => err.code)).toBe('ERR_BAD_ARGUMENTS');
      } finally {
        await bob.close();
      }
    });

    it('accepts tokens issued by capsync, by another HS256 signer, and by an identity provider through its JWKS', async () => {
      server = await startNotesServer({ port: 0, host: '127.0.0.1', secret: APP_SECRET, logLevel: 'warn' });
      for (const token of [await issueWithCapsync(server, 'ada'), await issueElsewhere(APP_SECRET, 'ada')]) {
        const client = await connect<NotesApi>(server.url, { token });
        expect(client.user).toEqual({ id: 'ada', roles: ['writer'] });
        expect((await client.call('create_note', 'from a token')).owner).toBe('ada');
        await client.close();
      }
      // Signed with another secret: refused at the upgrade.
      const forged = await connect(server.url, { token: await issueElsewhere('another-secret-another-secret-another-0123', 'ada'), reconnect: false }).catch((err: { code: string }) => err.code);
      expect(forged).toBe('ERR_AUTH_INVALID');
      await server.close();

      const idp = await serverTrustingIdp();
      server = idp.server;
      await server.listen(0, '127.0.0.1');
      const client = await connect(server.url, { token: idp.token });
      expect(client.user).toEqual({ id: 'ada', roles: ['writer'] });
      await client.close();
    });
  });
});
