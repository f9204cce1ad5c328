import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium } from './chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { parseServeArgs } from '../../examples/video/config.js';
import type { CapsyncServer } from '../../server/index.js';
import { startDemo } from '../../examples/video/serve.js';

describe.skipIf(!chromiumAvailable)('the demo dashboard in Chromium', () => {
  let server: CapsyncServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startDemo(parseServeArgs(['--port', '0', '--data', ':memory:', '--log-level', 'silent'], {}));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows an editor their videos live, and their edits reach other clients', async () => {
    const page = await browser.newPage();
    const http = server.url.replace('ws:', 'http:');
    await page.goto(`${http}/`);
    await page.click('button[data-user="editor"]');
    await page.waitForSelector('body[data-ready="editor"]');
    expect(await page.locator('#videos tr').count()).toBe(3);
    expect(await page.textContent('tr[data-video="dQw4w9WgXcQ"] .scope')).toBe('["youtube_videos","dQw4w9WgXcQ","update"]');

    const { token } = (await (await fetch(`${http}/dev/login?user=admin`)).json()) as { token: string };
    const admin = await connect(server.url, { token });
    const video = (await admin.call<Video[]>('get_my_videos')).find((v) => v.id === 'dQw4w9WgXcQ')!;
    await video.set_description('pushed to the page');
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('tr[data-video="dQw4w9WgXcQ"] input')?.value === 'pushed to the page');

    const seen = new Promise<void>((resolve) => admin.live(video).subscribe((v) => v.description === 'typed in the page' && resolve()));
    await page.fill('tr[data-video="dQw4w9WgXcQ"] input', 'typed in the page');
    await page.click('tr[data-video="dQw4w9WgXcQ"] .save');
    await seen;

    await page.click('tr[data-video="dQw4w9WgXcQ"] .delete');
    await page.waitForFunction(() => document.getElementById('log')?.textContent?.includes('delete refused: ERR_CAPABILITY_MISMATCH'));
    await admin.close();
    await page.close();
  });
});
