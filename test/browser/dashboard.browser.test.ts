import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from './chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { parseServeArgs } from '../../examples/video/config.js';
import type { CapsyncServer } from '../../server/index.js';
import { startDemo } from '../../examples/video/serve.js';

describe.skipIf(!chromiumAvailable)('the demo dashboard in Chromium', () => {
  // A data folder, not :memory:, so a restarted server on the same port is the same store (as a deploy is).
  // A restart, not `context.setOffline(true)`: Chromium's offline mode leaves an open WebSocket untouched
  // (measured: still connected 12 s later, though navigator.onLine was false).
  let data: string;
  let server: CapsyncServer;
  let browser: Browser;
  const http = () => server.url.replace('ws:', 'http:');
  const start = (port = '0') => startDemo(parseServeArgs(['--port', port, '--data', data, '--log-level', 'silent'], {}));

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'capsync-dashboard-'));
    server = await start();
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(data, { recursive: true, force: true });
  });

  async function connectAs(user: string): Promise<CapsyncClient> {
    const { token } = (await (await fetch(`${http()}/dev/login?user=${user}`)).json()) as { token: string };
    return connect(server.url, { token, reconnect: false });
  }

  async function videoOf(client: CapsyncClient, id: string): Promise<Video> {
    return (await client.call<Video[]>('get_my_videos')).find((v) => v.id === id)!;
  }

  async function openAs(user: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${http()}/`);
    await page.click(`button[data-user="${user}"]`);
    await page.waitForSelector(`body[data-ready="${user}"]`);
    return page;
  }

  const inputOf = (id: string) => `tr[data-video="${id}"] input`;
  const descriptionIs = (page: Page, id: string, text: string) =>
    page.waitForFunction(([selector, expected]) => document.querySelector<HTMLInputElement>(selector!)?.value === expected, [inputOf(id), text]);

  it('shows an editor their videos live, and their edits reach other clients', async () => {
    const page = await openAs('editor');
    expect(await page.getAttribute('#status', 'data-state')).toBe('connected');
    expect(await page.getByRole('status', { name: 'Connection status' }).textContent()).toBe('Connected as editor (editor)');
    expect(await page.locator('#videos tr').count()).toBe(3);
    expect(await page.textContent('tr[data-video="dQw4w9WgXcQ"] .scope')).toBe('["youtube_videos","dQw4w9WgXcQ","update"]');

    const admin = await connectAs('admin');
    const video = await videoOf(admin, 'dQw4w9WgXcQ');
    await video.set_description('pushed to the page');
    await descriptionIs(page, 'dQw4w9WgXcQ', 'pushed to the page');

    const seen = new Promise<void>((resolve) => admin.live(video).subscribe((v) => v.description === 'typed in the page' && resolve()));
    await page.fill(inputOf('dQw4w9WgXcQ'), 'typed in the page');
    await page.click('tr[data-video="dQw4w9WgXcQ"] .save');
    await seen;

    await page.click('tr[data-video="dQw4w9WgXcQ"] .delete');
    await page.waitForFunction(() => document.getElementById('log')?.textContent?.includes('could not delete Never Gonna Give You Up: your access does not allow that'));
    await admin.close();
    await page.close();
  });

  it('goes through reconnecting back to connected across a server restart, and keeps its rows live', async () => {
    const page = await openAs('editor');
    const port = new URL(server.url).port;
    await server.close();
    await page.waitForSelector('#status[data-state="reconnecting"]');
    expect(await page.textContent('#status')).toContain('last close 1001');
    expect(await page.locator('#videos tr').count()).toBe(3);

    server = await start(port);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 15_000 });
    expect(await page.locator('#videos tr').count()).toBe(3);
    const admin = await connectAs('admin');
    await (await videoOf(admin, '9bZkp7q19f0')).set_description('pushed after the restart');
    await descriptionIs(page, '9bZkp7q19f0', 'pushed after the restart');
    expect(await page.locator('#videos tr').count()).toBe(3);
    await admin.close();
    await page.close();
  });

  it('shows a guest what was shared with them, live and again after a reload', async () => {
    const page = await openAs('guest');
    expect(await page.textContent('#empty')).toContain('logged in as a guest');
    const admin = await connectAs('admin');
    const video = await videoOf(admin, 'kJQP7kiw5Fk');
    await admin.delegate(video.cap.narrow(['update']), { to: 'guest', bind: true });
    await page.waitForSelector('tr[data-video="kJQP7kiw5Fk"][data-state="editable"]');
    expect(await page.isHidden('#empty')).toBe(true);

    await page.reload();
    await page.waitForSelector('body[data-ready="guest"]');
    await page.waitForSelector('tr[data-video="kJQP7kiw5Fk"][data-state="editable"]');
    expect(await page.textContent('tr[data-video="kJQP7kiw5Fk"] .from')).toBe('shared by admin');
    // A fresh page hears no delegation frame for it: the row came from grants().
    expect(await page.textContent('#log')).not.toContain('shared Despacito with you');
    await video.set_description('pushed to the guest');
    await descriptionIs(page, 'kJQP7kiw5Fk', 'pushed to the guest');
    await admin.close();
    await page.close();
  });

  it('turns a revoked row read-only, with the reason', async () => {
    const page = await openAs('guest');
    const admin = await connectAs('admin');
    const video = await videoOf(admin, 'dQw4w9WgXcQ');
    const grant = video.cap.narrow(['update']);
    await admin.delegate(grant, { to: 'guest', bind: true });
    await page.waitForSelector('tr[data-video="dQw4w9WgXcQ"][data-state="editable"]');

    await admin.revoke(grant);
    await page.waitForSelector('tr[data-video="dQw4w9WgXcQ"][data-state="locked"]');
    expect(await page.getAttribute(inputOf('dQw4w9WgXcQ'), 'readonly')).not.toBeNull();
    expect(await page.isHidden('tr[data-video="dQw4w9WgXcQ"] .save')).toBe(true);
    expect(await page.textContent('tr[data-video="dQw4w9WgXcQ"] .locked-reason')).toBe('Read-only: your access to it was revoked.');
    await admin.close();
    await page.close();
  });

  it('keeps an unsaved draft when someone else changes the video, and lets the user take theirs or keep it', async () => {
    const page = await openAs('editor');
    const admin = await connectAs('admin');
    const video = await videoOf(admin, '9bZkp7q19f0');
    const conflict = 'tr[data-video="9bZkp7q19f0"] .conflict';

    await page.fill(inputOf('9bZkp7q19f0'), 'my draft');
    await video.set_description('theirs, first');
    await page.waitForSelector(`${conflict}:not([hidden])`);
    expect(await page.textContent(conflict)).toContain('Changed by someone else to “theirs, first”');
    expect(await page.inputValue(inputOf('9bZkp7q19f0'))).toBe('my draft');
    await page.click(`${conflict} .take`);
    expect(await page.inputValue(inputOf('9bZkp7q19f0'))).toBe('theirs, first');
    expect(await page.isHidden(conflict)).toBe(true);

    await page.fill(inputOf('9bZkp7q19f0'), 'my second draft');
    await video.set_description('theirs, second');
    await page.waitForSelector(`${conflict}:not([hidden])`);
    await page.click(`${conflict} .keep`);
    expect(await page.isHidden(conflict)).toBe(true);
    expect(await page.inputValue(inputOf('9bZkp7q19f0'))).toBe('my second draft');
    const seen = new Promise<void>((resolve) => admin.live(video).subscribe((v) => v.description === 'my second draft' && resolve()));
    await page.click('tr[data-video="9bZkp7q19f0"] .save');
    await seen;
    await admin.close();
    await page.close();
  });
});
