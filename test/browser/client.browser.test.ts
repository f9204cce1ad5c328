import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium } from './chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Video } from '../../examples/video/video.js';
import { startDemo, type DemoHarness } from '../helpers.js';

describe.skipIf(!chromiumAvailable)('the browser client in Chromium', () => {
  let demo: DemoHarness;
  let browser: Browser;
  let bundle: string;

  beforeAll(async () => {
    const out = await build({
      entryPoints: [new URL('./page.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    bundle = out.outputFiles[0]!.text;
    demo = await startDemo({
      http: (req, res) => {
        if (req.url === '/page.js') {
          res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
          return true;
        }
        if (req.url === '/') {
          res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
          return true;
        }
        return false;
      },
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('connects with a bearer subprotocol, gets Video instances, receives pushes and typed errors', async () => {
    const page = await browser.newPage();
    const http = demo.url.replace('ws:', 'http:');
    await page.goto(`${http}/`);
    await page.waitForFunction(() => typeof window.watchFirstVideo === 'function');
    const first = await page.evaluate(([url, token]) => window.watchFirstVideo(url!, token!), [demo.url, await demo.token('editor')]);
    expect(first.isVideo).toBe(true);
    expect(first.scope).toEqual(['youtube_videos', first.id, 'update']);

    // A Node client (the admin) changes the video; the browser's instance updates in place.
    const admin = await demo.connectAs('admin');
    const adminVideo = (await admin.call<Video[]>('get_my_videos')).find((v) => v.id === first.id)!;
    await page.evaluate(() => window.armNextChange());
    await adminVideo.set_description('changed from Node');
    expect(await page.evaluate(() => window.nextDescription())).toBe('changed from Node');

    // And the browser's changes reach Node.
    const seen = new Promise<string>((resolve) => admin.live(adminVideo).subscribe((v) => v.description === 'changed from the browser' && resolve(v.description)));
    await page.evaluate(() => window.updateFirst('changed from the browser'));
    expect(await seen).toBe('changed from the browser');
    expect(await page.evaluate(() => window.forbiddenDelete())).toBe('ERR_CAPABILITY_MISMATCH');
    await page.close();
  });
});
