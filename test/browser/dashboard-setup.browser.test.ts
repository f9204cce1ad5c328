import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoUsers } from '../../examples/video/app.js';
import { dashboardHandler } from '../../examples/video/dashboard-files.js';
import type { Video } from '../../examples/video/video.js';
import { hubOf } from '../../server/server.js';
import { startDemo, type DemoHarness } from '../helpers.js';
import { chromiumAvailable, launchChromium } from './chromium.js';
import { DashboardHarness } from './dashboard-harness.js';

describe.skipIf(!chromiumAvailable)('the dashboard when it cannot simply connect, its inspector, and its token renewal', { timeout: 60_000 }, () => {
  // Several Chromium pages on a loaded 2-core machine: a flow of many steps can take well over vitest's 20 s.
  let browser: Browser;
  const pages: Page[] = [];
  let demo: DemoHarness | undefined;
  let served: DashboardHarness | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close();
    await demo?.close();
    await served?.tearDown();
    demo = served = undefined;
  });
  afterAll(() => browser?.close());

  async function page(url: string): Promise<Page> {
    const opened = await browser.newPage({ viewport: { width: 1100, height: 640 } });
    pages.push(opened);
    await opened.goto(url);
    return opened;
  }

  /** The demo server (`npm start`'s) with extra flags, sharing this suite's browser. */
  async function serve(flags: string[]): Promise<DashboardHarness> {
    served = new DashboardHarness(flags);
    await served.start();
    served.browser = browser;
    return served;
  }

  it("explains an --origin list without the page's own address instead of failing to connect, and says which flag fixes it", async () => {
    const harness = await serve(['--origin', 'https://app.example']);
    const own = harness.http;
    const tab = await page(`${own}/`);
    await tab.waitForSelector('#problem[data-problem="origin"]');
    expect(await tab.getAttribute('#status', 'data-state')).toBe('closed');
    const text = (await tab.textContent('#problem'))!;
    expect(text).toContain('https://app.example');
    expect(text).toContain(`--origin https://app.example --origin ${new URL(own).origin}`);
    expect(text).not.toContain('ERR_');
    await harness.shot(tab, 'origin-problem');
  });

  it('with --no-dev-login, offers a token from your own auth instead, and connects with it', async () => {
    const harness = await serve(['--no-dev-login']);
    const tab = await page(`${harness.http}/`);
    await tab.waitForSelector('#problem[data-problem="no-dev-login"]');
    expect(await tab.isHidden('#users')).toBe(true);
    expect(await tab.textContent('#problem')).toContain('--no-dev-login');
    const token = await harness.server.auth.issue({ id: 'editor', roles: ['editor'] });
    await tab.fill('#token', token);
    await tab.click('#problem button.primary');
    await tab.waitForSelector('body[data-ready="editor"]');
    expect(await tab.textContent('#status')).toBe('Connected as editor (editor)');
    expect(await tab.locator('#videos tr').count()).toBe(3);
  });

  it("shows the admin who is connected, what each holds and the latest delegation; other roles get no inspector", async () => {
    const harness = await serve([]);
    const guest = await harness.openAs('guest');
    const editor = await harness.openAs('editor');
    const admin = await harness.openAs('admin');
    pages.push(guest, editor, admin);
    expect(await editor.isHidden('#tabs')).toBe(true);
    const node = await harness.connectAs('admin');
    const video = (await node.call<Video[]>('get_my_videos'))[0]!;
    await node.delegate(video.cap.narrow(['update']), { to: 'guest' });
    await guest.waitForSelector(`tr[data-video="${video.id}"]`);

    await admin.click('#tabs button[data-tab="inspector"]');
    await admin.waitForSelector('#inspector tr[data-user="guest"] ul.holds');
    expect(await admin.textContent('#inspector tr[data-user="guest"]')).toContain(`["youtube_videos","${video.id}","update"]`);
    expect(await admin.textContent('#inspector tr[data-user="admin"]')).toContain('["capsync_admin","inspect"]');
    expect(await admin.locator('#inspector tr[data-user="editor"] ul.holds li').count()).toBe(3);
    expect(await admin.textContent('#inspector .events')).toContain(`admin delegated ["youtube_videos","${video.id}","update"] to guest (bound)`);
    expect(Number(await admin.textContent('#inspector [data-stat="connections"] b'))).toBe(4);
    await harness.shot(admin, 'inspector');
  });

  it('renews a development token before it expires, without reconnecting', async () => {
    // The server says "expires soon" 2 s after each token is issued (an hour-long token, a window 2 s short of it).
    demo = await startDemo({ tokenRefreshWindowMs: 3_600_000 - 2_000, http: dashboardHandler({ devUsers: Object.keys(demoUsers) }) });
    const tab = await page(`${demo.url.replace('ws:', 'http:')}/`);
    let logins = 0;
    const renewed = new Promise<void>((resolve) => tab.on('request', (request) => {
      if (new URL(request.url()).pathname === '/dev/login' && ++logins === 2) resolve();
    }));
    const states: string[] = [];
    await tab.exposeFunction('recordState', (state: string) => states.push(state));
    await tab.evaluate(() => new MutationObserver(() => void (window as unknown as { recordState(s: string): void }).recordState(document.getElementById('status')!.dataset['state']!))
      .observe(document.getElementById('status')!, { attributes: true, attributeFilter: ['data-state'] }));
    await tab.click('button[data-user="editor"]');
    await tab.waitForSelector('body[data-ready="editor"]');
    const [session] = hubOf(demo.server).sessions();
    const first = session!.tokenExpiresAt!;
    await renewed;
    // The renewed token reached the server: the same session's expiry moved on (JWT expiries are whole seconds).
    await expect.poll(() => session!.tokenExpiresAt! > first, { timeout: 10_000 }).toBe(true);
    expect(hubOf(demo.server).sessions()).toEqual([session]);
    expect(await tab.getAttribute('#status', 'data-state')).toBe('connected');
    expect(states.filter((s) => s === 'reconnecting')).toEqual([]);
  });
});
