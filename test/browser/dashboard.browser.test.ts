import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Capability } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { chromiumAvailable } from './chromium.js';
import { DashboardHarness, descriptionIs, inputOf, row, shareVia } from './dashboard-harness.js';

const NEVER = 'dQw4w9WgXcQ';
const GANGNAM = '9bZkp7q19f0';
const DESPACITO = 'kJQP7kiw5Fk';

if (!chromiumAvailable) process.stderr.write('test/browser: Chromium not found (set CHROMIUM_PATH): the dashboard suites are skipped\n');

describe.skipIf(!chromiumAvailable)('the demo dashboard in Chromium', { timeout: 60_000 }, () => {
  // Several Chromium pages on a loaded 2-core machine: a flow of many steps can take well over vitest's 20 s.
  // A restart, not `context.setOffline(true)`: Chromium's offline mode leaves an open WebSocket untouched
  // (measured: still connected 12 s later, though navigator.onLine was false).
  const demo = new DashboardHarness();
  const pages: Page[] = [];
  const open = async (user: string) => {
    const page = await demo.openAs(user);
    pages.push(page);
    return page;
  };

  beforeAll(() => demo.setUp(), 60_000);
  afterAll(() => demo.tearDown());

  it("pushes an editor's edit to the admin's page with its version and author; only the admin sees Delete", async () => {
    const editor = await open('editor');
    const admin = await open('admin');
    expect(await editor.getByRole('status', { name: 'Connection status' }).textContent()).toBe('Connected as editor (editor)');
    expect(await editor.locator('#videos tr').count()).toBe(3);
    expect(await editor.textContent(`${row(NEVER)} .rights`)).toBe('can edit');
    expect(await editor.locator('#videos .delete').count()).toBe(0);
    expect(await editor.locator('#videos .save').count()).toBe(3);
    expect(await admin.textContent(`${row(NEVER)} .rights`)).toBe('full control');
    expect(await admin.locator('#videos .delete').count()).toBe(3);

    const before = Number((await admin.textContent(`${row(NEVER)} .version`))!.slice(1));
    await editor.fill(inputOf(NEVER), 'typed by the editor');
    await editor.click(`${row(NEVER)} .save`);
    await descriptionIs(admin, NEVER, 'typed by the editor');
    expect(await admin.textContent(`${row(NEVER)} .version`)).toBe(`v${before + 1}`);
    expect(await admin.textContent(`${row(NEVER)} .by`)).toBe('by editor');
    expect(await admin.locator('#videos tr').count()).toBe(3);
    await demo.shot(admin, 'admin');
  });

  it('shares from the dialog to a guest, pushes a third user’s edit to them, and locks their row at once on revoke', async () => {
    const guest = await open('guest');
    expect(await guest.textContent('#empty')).toContain('You are a guest');
    expect(await guest.locator('#tabs').isHidden()).toBe(true);
    await demo.shot(guest, 'guest-empty');
    const admin = await open('admin');
    const editor = await open('editor');

    await shareVia(admin, DESPACITO, 'guest');
    await guest.waitForSelector(`${row(DESPACITO)}[data-state="editable"]`);
    expect(await guest.textContent(`${row(DESPACITO)} .rights`)).toBe('can edit');
    expect(await guest.textContent(`${row(DESPACITO)} .from`)).toBe('shared by admin');
    expect(await guest.locator(`${row(DESPACITO)} .delete`).count()).toBe(0);
    expect(await guest.isHidden('#empty')).toBe(true);
    const share = admin.locator(`#shared-by-me tr[data-video="${DESPACITO}"][data-to="guest"]`);
    expect(await share.locator('td').nth(2).textContent()).toBe('can edit');
    expect(await share.locator('td').nth(3).textContent()).toBe('bound');
    expect(await share.locator('td').nth(4).textContent()).toBe('in 1 h');

    await editor.fill(inputOf(DESPACITO), 'edited while shared');
    await editor.click(`${row(DESPACITO)} .save`);
    await descriptionIs(guest, DESPACITO, 'edited while shared');
    expect(await guest.textContent(`${row(DESPACITO)} .by`)).toBe('by editor');

    // "Shared with me" comes back after a reload (grants), once.
    await guest.reload();
    await guest.waitForSelector('body[data-ready="guest"]');
    await guest.waitForSelector(`${row(DESPACITO)}[data-state="editable"]`);
    expect(await guest.locator('#videos tr').count()).toBe(1);
    await demo.shot(guest, 'guest-shared');
    // "Shared by me" too: the admin's reload keeps the revoke button.
    await admin.reload();
    await admin.waitForSelector('body[data-ready="admin"]');
    await demo.shot(admin, 'shared-by-me');

    await admin.click(`#shared-by-me tr[data-video="${DESPACITO}"][data-to="guest"] .revoke`);
    await guest.waitForSelector(`${row(DESPACITO)}[data-state="locked"]`);
    expect(await guest.getAttribute(inputOf(DESPACITO), 'readonly')).not.toBeNull();
    expect(await guest.locator(`${row(DESPACITO)} td.actions button`).count()).toBe(0);
    expect(await guest.textContent(`${row(DESPACITO)} .locked-reason`)).toBe('Read-only: your access to it was revoked.');
    await admin.waitForSelector(`#shared-by-me tr[data-video="${DESPACITO}"][data-to="guest"][data-state="revoked"]`);
    // The admin's own capability, which the share was narrowed from, still works.
    expect(await admin.locator(`${row(DESPACITO)} .save`).count()).toBe(1);
    await demo.shot(guest, 'guest-revoked');
  });

  it('shows the share dialog with the recipients online as they join, and a share with a short expiry locks by itself', async () => {
    for (const p of pages.splice(0)) await p.close();
    const admin = await open('admin');
    await admin.click(`${row(GANGNAM)} .share`);
    await admin.waitForSelector('dialog.share-dialog[open] .hint');
    const guest = await open('guest');
    await admin.waitForSelector('dialog.share-dialog select[name="to"] option[value="guest"]', { state: 'attached' });
    // editor2 (not online before in this suite) opens the page while the dialog is open: presence's join event adds them.
    expect(await admin.locator('dialog.share-dialog select[name="to"] option[value="editor2"]').count()).toBe(0);
    await open('editor2');
    await admin.waitForSelector('dialog.share-dialog select[name="to"] option[value="editor2"]', { state: 'attached' });
    await open('editor');
    await admin.waitForSelector('dialog.share-dialog select[name="to"] option[value="editor"]', { state: 'attached' });
    const offered = await admin.$$eval('dialog.share-dialog select[name="to"] option', (options) => options.map((o) => o.value));
    expect(offered).toContain('guest');
    expect(offered).toContain('editor');
    expect(offered).not.toContain('admin');
    expect(await admin.locator('dialog.share-dialog select[name="rights"] option[value="full"]').count()).toBe(1);
    await demo.shot(admin, 'share-dialog');
    await admin.click('dialog.share-dialog button[value="cancel"]');

    await shareVia(admin, GANGNAM, 'guest', { expiresInMs: 1500 });
    await guest.waitForSelector(`${row(GANGNAM)}`);
    await guest.waitForSelector(`${row(GANGNAM)}[data-state="locked"]`);
    expect(await guest.textContent(`${row(GANGNAM)} .locked-reason`)).toBe('Read-only: your access to it expired.');

    // A bearer share: listed as such in "shared by me", and it reaches the guest like a bound one.
    await shareVia(admin, DESPACITO, 'guest', { bearer: true });
    await guest.waitForSelector(`${row(DESPACITO)}[data-state="editable"]`);
    expect(await admin.textContent(`#shared-by-me tr[data-video="${DESPACITO}"][data-state="active"] td:nth-child(4)`)).toBe('bearer');
  });

  it('deletes only after the admin confirms, and the row leaves every page', async () => {
    const node = await demo.connectAs('admin');
    const scratch = await node.call<Video>('add_video', 'Scratch', 'to be deleted');
    const admin = await open('admin');
    const editor = await open('editor');
    await editor.waitForSelector(row(scratch.id));

    await admin.click(`${row(scratch.id)} .delete`);
    await admin.waitForSelector('dialog.confirm[open]');
    expect(await admin.textContent('dialog.confirm p')).toBe('Delete “Scratch” for everyone? Everyone it was shared with loses it too.');
    await demo.shot(admin, 'confirm-delete');
    await admin.click('dialog.confirm button[value="cancel"]');
    await admin.waitForSelector('dialog.confirm', { state: 'detached' });
    expect(await admin.locator(row(scratch.id)).count()).toBe(1);
    expect((await node.call<Video[]>('get_my_videos')).some((v) => v.id === scratch.id)).toBe(true);

    await admin.click(`${row(scratch.id)} .delete`);
    await admin.click('dialog.confirm .confirm-action');
    await admin.waitForSelector(row(scratch.id), { state: 'detached' });
    await editor.waitForSelector(row(scratch.id), { state: 'detached' });
    expect((await node.call<Video[]>('get_my_videos')).some((v) => v.id === scratch.id)).toBe(false);
  });

  it("shows the admin a video another client adds, live, and drops it when another client deletes it", async () => {
    const admin = await open('admin');
    const node = await demo.connectAs('admin');
    const added = await node.call<Video>('add_video', 'Added elsewhere', 'from a Node client');
    await admin.waitForSelector(`${row(added.id)}[data-state="editable"]`);
    expect(await admin.textContent(`${row(added.id)} .rights`)).toBe('full control');
    expect(await admin.locator(`${row(added.id)} .delete`).count()).toBe(1);
    await demo.shot(admin, 'added-live');
    await added.delete();
    await admin.waitForSelector(row(added.id), { state: 'detached' });
    expect(await admin.locator('#videos tr').count()).toBe(3);
  });

  it('keeps an unsaved draft when someone else changes the video, and lets the user take theirs or keep it', async () => {
    const page = await open('editor');
    const admin = await demo.connectAs('admin');
    const video = await demo.videoOf(admin, GANGNAM);
    const conflict = `${row(GANGNAM)} .conflict`;

    await page.fill(inputOf(GANGNAM), 'my draft');
    await video.set_description('theirs, first');
    await page.waitForSelector(`${conflict}:not([hidden])`);
    expect(await page.textContent(conflict)).toContain('Changed by admin to “theirs, first”');
    expect(await page.inputValue(inputOf(GANGNAM))).toBe('my draft');
    await demo.shot(page, 'draft-conflict');
    await page.click(`${conflict} .take`);
    expect(await page.inputValue(inputOf(GANGNAM))).toBe('theirs, first');
    expect(await page.isHidden(conflict)).toBe(true);

    await page.fill(inputOf(GANGNAM), 'my second draft');
    await video.set_description('theirs, second');
    await page.waitForSelector(`${conflict}:not([hidden])`);
    // Saving before settling it is refused by the server (the draft's version is old): theirs stays.
    await page.click(`${row(GANGNAM)} .save`);
    await page.waitForSelector('#notices .notice');
    expect(await page.textContent('#notices .notice span')).toBe('Could not save Gangnam Style: someone else changed it since you started editing: take their text or keep yours, then save again.');
    expect((await demo.videoOf(admin, GANGNAM)).description).toBe('theirs, second');
    await page.click(`${conflict} .keep`);
    expect(await page.isHidden(conflict)).toBe(true);
    expect(await page.inputValue(inputOf(GANGNAM))).toBe('my second draft');
    const seen = new Promise<void>((resolve) => admin.live(video).subscribe({ next: (v) => v.description === 'my second draft' && resolve(), error: () => {} }));
    await page.click(`${row(GANGNAM)} .save`);
    await seen;
  });

  it('shows an error in words, never a raw code', async () => {
    const guest = await open('guest');
    const admin = await demo.connectAs('admin');
    const video = await demo.videoOf(admin, NEVER);
    const grant = video.cap.narrow(['update']);
    await admin.delegate(grant, { to: 'guest' });
    await guest.waitForSelector(`${row(NEVER)}[data-state="editable"]`);
    // The description limit is the server's (5,000 characters): the page sends what was typed.
    await guest.fill(inputOf(NEVER), 'x'.repeat(5001));
    await guest.click(`${row(NEVER)} .save`);
    await guest.waitForSelector('#notices .notice');
    expect(await guest.textContent('#notices .notice span')).toBe('Could not save Never Gonna Give You Up: the server refused the value (a description is at most 5,000 characters).');
    await admin.revoke(grant as Capability);
  });

  it('goes through reconnecting back to connected across a server restart, and keeps its rows live and single', async () => {
    const page = await open('editor');
    const rows = await page.locator('#videos tr').count();
    for (const p of pages.splice(0)) if (p !== page) await p.close();
    const port = new URL(demo.server.url).port;
    await demo.closeClients();
    await demo.server.close();
    await page.waitForSelector('#status[data-state="reconnecting"]');
    expect(await page.textContent('#status')).toContain('last close 1001');
    await demo.shot(page, 'reconnecting');

    await demo.start(port);
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 15_000 });
    const admin = await demo.connectAs('admin');
    await (await demo.videoOf(admin, GANGNAM)).set_description('pushed after the restart');
    await descriptionIs(page, GANGNAM, 'pushed after the restart');
    expect(await page.locator('#videos tr').count()).toBe(rows);
  });
});
