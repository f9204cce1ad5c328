// The demo server and Chromium pages the dashboard suites drive: one server per suite (a data folder, so a
// restart on the same port is the same store), one page per user.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { connect, type CapsyncClient } from '../../client/index.js';
import { parseServeArgs } from '../../examples/video/config.js';
import { startDemo } from '../../examples/video/serve.js';
import type { Video } from '../../examples/video/video.js';
import type { CapsyncServer } from '../../server/index.js';
import { launchChromium } from './chromium.js';

/** Set CAPSYNC_SCREENSHOTS=1 to save the main states as docs/dashboard-*.png (what the README shows). */
const screenshots = process.env['CAPSYNC_SCREENSHOTS'] === '1';

export class DashboardHarness {
  server!: CapsyncServer;
  browser!: Browser;
  readonly #data = mkdtempSync(join(tmpdir(), 'capsync-dashboard-'));
  readonly #clients: CapsyncClient[] = [];
  #ownsBrowser = false;

  constructor(private readonly flags: string[] = []) {}

  get http(): string {
    return this.server.url.replace('ws:', 'http:');
  }

  async start(port = '0'): Promise<void> {
    this.server = await startDemo(parseServeArgs(['--port', port, '--data', this.#data, '--log-level', 'silent', ...this.flags], {}));
  }

  async setUp(): Promise<this> {
    await this.start();
    this.browser = await launchChromium();
    this.#ownsBrowser = true;
    return this;
  }

  /** Closes the Node clients opened so far (before a restart: they do not reconnect). */
  async closeClients(): Promise<void> {
    for (const client of this.#clients.splice(0)) await client.close();
  }

  async tearDown(): Promise<void> {
    await this.closeClients();
    if (this.#ownsBrowser) await this.browser?.close();
    await this.server?.close();
    rmSync(this.#data, { recursive: true, force: true });
  }

  /** A Node client as a demo user (closed at tear-down). */
  async connectAs(user: string): Promise<CapsyncClient> {
    const { token } = (await (await fetch(`${this.http}/dev/login?user=${user}`)).json()) as { token: string };
    const client = await connect(this.server.url, { token, reconnect: false });
    this.#clients.push(client);
    return client;
  }

  async videoOf(client: CapsyncClient, id: string): Promise<Video> {
    return (await client.call<Video[]>('get_my_videos')).find((v) => v.id === id)!;
  }

  /** A new page, logged in as `user` through the dashboard's own buttons, once its list has loaded. */
  async openAs(user: string): Promise<Page> {
    const page = await this.browser.newPage({ viewport: { width: 1100, height: 640 } });
    await page.goto(`${this.http}/`);
    await page.click(`button[data-user="${user}"]`);
    await page.waitForSelector(`body[data-ready="${user}"]`);
    return page;
  }

  /** Saves a screenshot of `page` as docs/dashboard-<name>.png, when asked to (CAPSYNC_SCREENSHOTS=1). */
  async shot(page: Page, name: string): Promise<void> {
    if (!screenshots) return;
    // Cropped to the content (a short page leaves no empty viewport below it), at least as tall as an open dialog.
    const height = await page.evaluate(() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll('dialog[open]')].map((d) => d.getBoundingClientRect().bottom + 24)));
    await page.screenshot({ path: join('docs', `dashboard-${name}.png`), clip: { x: 0, y: 0, width: 1100, height: Math.min(640, Math.ceil(height)) } });
  }
}

export const row = (id: string) => `tr[data-video="${id}"]`;
export const inputOf = (id: string) => `${row(id)} input`;

export function descriptionIs(page: Page, id: string, text: string): Promise<unknown> {
  return page.waitForFunction(([selector, expected]) => document.querySelector<HTMLInputElement>(selector!)?.value === expected, [inputOf(id), text]);
}

/**
 * Shares `id` from `page` through the dialog: recipient, rights and kind as given; `expiresInMs` picks an
 * offered expiry, or adds one to the list (a test cannot wait five minutes for the shortest).
 */
export async function shareVia(page: Page, id: string, to: string, options: { expiresInMs?: number; bearer?: boolean; full?: boolean } = {}): Promise<void> {
  await page.click(`${row(id)} .share`);
  await page.waitForSelector(`dialog.share-dialog select[name="to"] option[value="${to}"]`, { state: 'attached' });
  await page.selectOption('dialog.share-dialog select[name="to"]', to);
  if (options.full) await page.selectOption('dialog.share-dialog select[name="rights"]', 'full');
  if (options.expiresInMs !== undefined) {
    const ms = String(options.expiresInMs);
    await page.evaluate((value) => {
      const select = document.querySelector<HTMLSelectElement>('dialog.share-dialog select[name="expiry"]')!;
      if (![...select.options].some((o) => o.value === value)) select.add(new Option(`${value} ms`, value));
    }, ms);
    await page.selectOption('dialog.share-dialog select[name="expiry"]', ms);
  }
  if (options.bearer) await page.check('dialog.share-dialog input[value="bearer"]');
  await page.click('dialog.share-dialog .share-confirm');
  await page.waitForSelector(`#shared-by-me tr[data-video="${id}"][data-to="${to}"][data-state="active"]`);
}
