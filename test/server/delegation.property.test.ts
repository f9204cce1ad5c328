import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameType, type Capability, type CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { collectUntil, next, roundTrip, startDemo } from '../helpers.js';

/**
 * Random sequences of narrow, delegate, revoke, expire and mutate across four clients, checked against a
 * simple model of who may do what and who may see what. Any call result or push the model forbids fails.
 */
const USERS = ['admin', 'editor', 'editor2', 'guest'] as const;
type UserName = (typeof USERS)[number];

interface Entry {
  cap: Capability;
  video: string;
  parent: Entry | null;
  revoked: boolean;
  expired: boolean; // expiry in the past (the "expire" step)
  audience: string | null;
  holders: Set<UserName>; // who received it from the server
}

type Op =
  | { kind: 'narrow'; who: number; pick: number; expire: boolean }
  | { kind: 'delegate'; who: number; pick: number; to: number; bind: boolean }
  | { kind: 'revoke'; who: number; pick: number }
  | { kind: 'mutate'; who: number; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('narrow' as const), who: fc.nat(3), pick: fc.nat(99), expire: fc.boolean() }),
  fc.record({ kind: fc.constant('delegate' as const), who: fc.nat(3), pick: fc.nat(99), to: fc.nat(3), bind: fc.boolean() }),
  fc.record({ kind: fc.constant('revoke' as const), who: fc.nat(3), pick: fc.nat(99) }),
  fc.record({ kind: fc.constant('mutate' as const), who: fc.nat(3), pick: fc.nat(99) }),
  fc.record({ kind: fc.constant('mutate' as const), who: fc.nat(3), pick: fc.nat(99) }),
);

function broken(e: Entry): boolean {
  for (let x: Entry | null = e; x; x = x.parent) if (x.revoked || x.expired) return true;
  return false;
}

/** The code the server must answer when `user` presents `e`, or null if it is valid for them. */
function expectedError(e: Entry, user: UserName): string | null {
  const chain: Entry[] = [];
  for (let x: Entry | null = e; x; x = x.parent) chain.push(x);
  if (chain.some((x) => x.expired)) return 'ERR_CAPABILITY_EXPIRED';
  if (chain.some((x) => x.revoked)) return 'ERR_CAPABILITY_REVOKED';
  if (chain.some((x) => x.audience !== null && x.audience !== user)) return 'ERR_CAPABILITY_AUDIENCE';
  return null;
}

function audienceOf(e: Entry): string | null {
  for (let x: Entry | null = e; x; x = x.parent) if (x.audience !== null) return x.audience;
  return null;
}

async function run(ops: Op[]): Promise<void> {
  const demo = await startDemo();
  try {
    const clients = new Map<UserName, CapsyncClient>();
    for (const u of USERS) clients.set(u, await demo.connectAs(u));
    const entries: Entry[] = [];
    for (const u of USERS) {
      for (const v of await clients.get(u)!.call<Video[]>('get_my_videos')) {
        entries.push({ cap: v.cap, video: v.id, parent: null, revoked: false, expired: false, audience: null, holders: new Set([u]) });
      }
    }
    const ownedBy = (u: UserName) => entries.filter((e) => e.holders.has(u));
    let text = 0;

    for (const o of ops) {
      const who = USERS[o.who]!;
      const client = clients.get(who)!;
      const mine = ownedBy(who);
      if (mine.length === 0) continue;
      const entry = mine[o.pick % mine.length]!;
      switch (o.kind) {
        case 'narrow': {
          const cap = entry.cap.narrow([], o.expire ? { expiresAt: Date.now() - 1000 } : {});
          entries.push({ cap, video: entry.video, parent: entry, revoked: false, expired: o.expire, audience: null, holders: new Set([who]) });
          break;
        }
        case 'delegate': {
          const to = USERS[o.to]!;
          if (to === who) break;
          // A capability bound to someone other than the recipient would be useless in its hands: refused.
          const expected = expectedError(entry, who) ?? (audienceOf(entry) !== null && audienceOf(entry) !== to ? 'ERR_CAPABILITY_AUDIENCE' : null);
          const arrived = expected === null ? next(clients.get(to)!.delegations) : undefined;
          const outcome = await client.delegate(entry.cap, { to, bind: o.bind }).then(() => null, (e: { code: string }) => e.code);
          expect(outcome, `delegate by ${who} to ${to}`).toBe(expected);
          if (arrived) {
            const { cap } = await arrived;
            if (o.bind) entries.push({ cap, video: entry.video, parent: entry, revoked: false, expired: false, audience: to, holders: new Set([to]) });
            else entry.holders.add(to);
          }
          break;
        }
        case 'revoke': {
          const expected = expectedError(entry, who);
          const outcome = await client.revoke(entry.cap).then(() => null, (e: { code: string }) => e.code);
          expect(outcome, `revoke by ${who}`).toBe(expected);
          if (expected === null) entry.revoked = true;
          break;
        }
        case 'mutate': {
          const expected = expectedError(entry, who);
          const description = `text ${++text}`;
          const frames = new Map<UserName, Promise<unknown[][]>>();
          const done = (async () => {
            const outcome = await client.call('set_video_description', entry.cap, description).then(() => null, (e: { code: string }) => e.code);
            expect(outcome, `mutate by ${who}`).toBe(expected);
            for (const c of clients.values()) await roundTrip(c);
          })();
          for (const [u, c] of clients) frames.set(u, collectUntil(c.frames as never, done));
          await done;
          for (const u of USERS) {
            const pushes = (await frames.get(u)!).filter((f) => f[0] === FrameType.push && (f[1] as unknown[])[1] === entry.video);
            const covered = expected === null && entries.some((e) => e.video === entry.video && e.holders.has(u) && !broken(e) && (audienceOf(e) ?? u) === u);
            expect(pushes.length, `pushes to ${u} after ${who} mutated ${entry.video}`).toBe(covered ? 1 : 0);
          }
          break;
        }
      }
    }
  } finally {
    await demo.close();
  }
}

describe('delegation, revocation and expiry against a model', () => {
  it('never yields a push or a call result the model forbids', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 24 }), run), { numRuns: 25 });
  }, 120_000);
});
