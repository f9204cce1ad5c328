/**
 * The README's browser client (examples/app/browser.ts), bundled by esbuild as the README says and run in
 * Chromium on a page of the server's own origin: Bob's page lists Ada's note read-only, with a token from
 * the development login, and its row changes when Ada edits the note from Node.
 */
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import type { NotesApi } from '../../examples/app/functions.js';
import '../../examples/app/note.js';
import { startNotesServer } from '../../examples/app/server.js';
import type { CapsyncServer } from '../../server/index.js';
import { chromiumAvailable, launchChromium } from '../browser/chromium.js';

const SECRET = 'notes-browser-secret-notes-browser-secret-01';

/** The page's script: the example's showNotes on the page's list, tokens from the development login. */
const PAGE = `import { showNotes } from './browser.ts';
window.start = (url) => showNotes(document.querySelector('ul'), url, async () => (await (await fetch('/dev/login?user=bob')).json()).token)
  .then(() => 'started', (error) => error.code ?? String(error));`;

describe.skipIf(!chromiumAvailable)('the README browser client in Chromium', () => {
  let server: CapsyncServer;
  let browser: Browser;
  let bundle: string;

  beforeAll(async () => {
    const out = await build({
      stdin: { contents: PAGE, resolveDir: new URL('../../examples/app/', import.meta.url).pathname, loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    bundle = out.outputFiles[0]!.text;
    // The page and its script come from the server's own origin, through the app's own routes.
    server = await startNotesServer({
      port: 0,
      host: '127.0.0.1',
      secret: SECRET,
      logLevel: 'warn',
      http: (req, res) => {
        if (req.url === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
        else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><ul></ul><script type="module" src="/app.js"></script>');
        else return false;
        return true;
      },
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows Ada\'s note to Bob read-only and updates the row on every push', async () => {
    const ada = await connect<NotesApi>(server.url, { token: await server.auth.issue({ id: 'ada', roles: ['writer'] }) });
    const page = await browser.newPage();
    try {
      const note = await ada.call('create_note', 'Groceries');
      const origin = server.url.replace('ws:', 'http:');
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => typeof (window as unknown as { start?: unknown }).start === 'function');
      expect(await page.evaluate((url) => (window as unknown as { start(url: string): Promise<string> }).start(url), server.url)).toBe('started');

      const rows = page.locator('li');
      await expect.poll(() => rows.allTextContents()).toEqual(['Groceries:  (v1) (read only)']);
      expect(await page.locator('ul').getAttribute('data-state')).toBe('connected');

      await note.edit('milk, eggs');
      await expect.poll(() => rows.allTextContents()).toEqual(['Groceries: milk, eggs (v2) (read only)']);
    } finally {
      await page.close();
      await ada.close();
    }
  });
});
