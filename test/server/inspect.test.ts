import { afterEach, describe, expect, it } from 'vitest';
import { Capability, capabilityFromToken, type CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { Activity } from '../../server/activity.js';
import type { Inspection } from '../../server/inspect.js';
import { startDemo, type DemoHarness } from '../helpers.js';

describe('the inspector', () => {
  let demo: DemoHarness | undefined;
  afterEach(async () => {
    await demo?.close();
    demo = undefined;
  });

  async function codeOf(promise: Promise<unknown>): Promise<string> {
    return promise.then(() => 'resolved', (e: { code: string }) => e.code);
  }

  async function inspectorOf(client: CapsyncClient): Promise<Capability> {
    return client.call<Capability>('get_inspector');
  }

  it('gives its capability to the admin role only, and takes no other capability', async () => {
    demo = await startDemo();
    const admin = await demo.connectAs('admin');
    const editor = await demo.connectAs('editor');
    const guest = await demo.connectAs('guest');
    expect(await codeOf(editor.call('get_inspector'))).toBe('ERR_FORBIDDEN');
    expect(await codeOf(guest.call('get_inspector'))).toBe('ERR_FORBIDDEN');
    const cap = await inspectorOf(admin);
    expect(cap.scope).toEqual(['capsync_admin', 'inspect']);

    // A video capability, a made-up one, a narrower one, and the admin's own copied to another user: all refused.
    const [video] = await admin.call<Video[]>('get_my_videos');
    expect(await codeOf(admin.call('inspect', video!.cap))).toBe('ERR_CAPABILITY_MISMATCH');
    expect(await codeOf(editor.call('inspect', new Capability(['capsync_admin', 'inspect'])))).toBe('ERR_CAPABILITY_FORGED');
    expect(await codeOf(admin.call('inspect', cap.narrow(['more'])))).toBe('ERR_CAPABILITY_TOO_NARROW');
    expect(await codeOf(guest.call('inspect', capabilityFromToken(cap.toToken())))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(await codeOf(admin.call('inspect'))).toBe('ERR_BAD_ARGUMENTS');

    // Revoked, it stops working at once.
    await admin.revoke(cap);
    expect(await codeOf(admin.call('inspect', cap))).toBe('ERR_CAPABILITY_REVOKED');
  });

  it('shows each connection with the scopes and revocation ids it holds, and recent delegations and revocations, never a token', async () => {
    demo = await startDemo();
    const admin = await demo.connectAs('admin');
    const editor = await demo.connectAs('editor');
    const guest = await demo.connectAs('guest');
    const cap = await inspectorOf(admin);
    const editorVideos = await editor.call<Video[]>('get_my_videos');
    const [video] = await admin.call<Video[]>('get_my_videos');
    const grant = video!.cap.narrow(['update'], { expiresAt: Date.now() + 60_000 });
    const delegated = await admin.delegate(grant, { to: 'guest' });
    const revoked = await admin.revoke(grant);

    const view = await admin.call<Inspection>('inspect', cap);
    const byUser = new Map(view.connections.map((c) => [c.user, c]));
    expect([...byUser.keys()].sort()).toEqual(['admin', 'editor', 'guest']);
    const editorHolds = byUser.get('editor')!.holds;
    expect(editorHolds.map((h) => h.scope).sort()).toEqual(editorVideos.map((v) => v.cap.scope).sort());
    for (const held of editorHolds) {
      expect(held.bound).toBe(true);
      expect(held.revocationIds).toContain(held.revocationId);
    }
    expect(byUser.get('editor')!.roles).toEqual(['editor']);
    // The guest's delegated capability was revoked: it holds nothing any more.
    expect(byUser.get('guest')!.holds).toEqual([]);

    expect(view.recent.slice(0, 2)).toMatchObject([
      { kind: 'revoked', by: 'admin', what: grant.scope, revocationId: revoked.revocationId, count: 1 },
      { kind: 'delegated', from: 'admin', to: 'guest', scope: grant.scope, revocationId: delegated.revocationId, bearer: false, expiresAt: grant.expiresAt },
    ]);
    expect(view.callsTotal).toBeGreaterThanOrEqual(4);

    // Plain data only: no capability, no bytes; and no token's text anywhere in it.
    const text = JSON.stringify(view);
    const walk = (value: unknown): void => {
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return;
      expect(Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype).toBe(true);
      for (const inner of Object.values(value as object)) walk(inner);
    };
    walk(view);
    for (const held of [...editorVideos.map((v) => v.cap), grant, cap]) expect(text).not.toContain(Buffer.from(held.toToken()).toString('base64url').slice(-24));
    await guest.close();
  });

  it('counts calls per second over the last full seconds', () => {
    let now = 1_000_000;
    const activity = new Activity({ now: () => now });
    for (let i = 0; i < 20; i++) activity.call();
    now += 1000;
    for (let i = 0; i < 10; i++) activity.call();
    now += 1000;
    activity.call(); // the current, partial second does not count yet
    expect(activity.callsPerSecond(10)).toBe(3);
    expect(activity.callsPerSecond(1)).toBe(10);
    expect(activity.callsTotal).toBe(31);
    // A minute later the ring has forgotten them: the slots belong to other seconds.
    now += 61_000;
    expect(activity.callsPerSecond(10)).toBe(0);
  });

  it('keeps a bounded list of recent events, newest first', () => {
    const activity = new Activity({ now: () => 0 });
    for (let i = 0; i < 60; i++) activity.revoked({ by: 'server', what: `user:${i}`, revocationId: null, count: i });
    const recent = activity.recent();
    expect(recent).toHaveLength(50);
    expect(recent[0]).toMatchObject({ what: 'user:59' });
    expect(recent[49]).toMatchObject({ what: 'user:10' });
  });
});
