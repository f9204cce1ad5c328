import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameType, type Capability, type CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { collectUntil, next, roundTrip, startDemo } from '../helpers.js';

/**
 * Random sequences of narrow, delegate (bound or bearer), steal (a client copies another's capability, as a
 * token captured from traffic would be), revoke, expire and mutate across four clients, checked against a
 * simple model of who may do what and who may see what. Any call result or push the model forbids fails.
 *
 * The model: every capability the server sends is bound to its recipient; a delegation is re-minted for the
 * recipient (bound, unless bearer) and descends from the delegator's capability, so revoking anything in
 * its lineage (what it was narrowed or delegated from, across hops) revokes it.
 */
const USERS = ['admin', 'editor', 'editor2', 'guest'] as const;
type UserName = (typeof USERS)[number];

interface Entry {
  cap: Capability;
  video: string;
  /** What it was narrowed or re-minted from: revocation and expiry of any of them reach it. */
  parent: Entry | null;
  revoked: boolean;
  expired: boolean; // expiry in the past (the "expire" step)
  /** The audiences in its own token: every one must be the caller. */
  audiences: readonly string[];
  holders: Set<UserName>; // whose client has it
  served: Set<UserName>; // whose connection the server holds it on (sent to it, or used by it)
}

type Op =
  | { kind: 'narrow'; who: number; pick: number; expire: boolean }
  | { kind: 'delegate'; who: number; pick: number; to: number; bearer: boolean }
  | { kind: 'steal'; who: number; pick: number; to: number }
  | { kind: 'revoke'; who: number; pick: number }
  | { kind: 'mutate'; who: number; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('narrow' as const), who: fc.nat(3), pick: fc.nat(99), expire: fc.boolean() }),
  fc.record({ kind: fc.constant('delegate' as const), who: fc.nat(3), pick: fc.nat(99), to: fc.nat(3), bearer: fc.boolean() }),
  fc.record({ kind: fc.constant('delegate' as const), who: fc.nat(3), pick: fc.nat(99), to: fc.nat(3), bearer: fc.boolean() }),
  fc.record({ kind: fc.constant('steal' as const), who: fc.nat(3), pick: fc.nat(99), to: fc.nat(3) }),
  fc.record({ kind: fc.constant('revoke' as const), who: fc.nat(3), pick: fc.nat(99) }),
  fc.record({ kind: fc.constant('mutate' as const), who: fc.nat(3), pick: fc.nat(99) }),
  fc.record({ kind: fc.constant('mutate' as const), who: fc.nat(3), pick: fc.nat(99) }),
);

function lineage(e: Entry): Entry[] {
  const chain: Entry[] = [];
  for (let x: Entry | null = e; x; x = x.parent) chain.push(x);
  return chain;
}

function broken(e: Entry): boolean {
  return lineage(e).some((x) => x.revoked || x.expired);
}

/** The code the server must answer when `user` presents `e`, or null if it is valid for them. */
function expectedError(e: Entry, user: UserName): string | null {
  const chain = lineage(e);
  // The server's precedence: a capability bound to someone else says only that.
  if (e.audiences.some((a) => a !== user)) return 'ERR_CAPABILITY_AUDIENCE';
  if (chain.some((x) => x.expired)) return 'ERR_CAPABILITY_EXPIRED';
  if (chain.some((x) => x.revoked)) return 'ERR_CAPABILITY_REVOKED';
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
        // Bound by default: the server bound it to u when it sent it.
        expect(v.cap.audiences).toEqual([u]);
        entries.push({ cap: v.cap, video: v.id, parent: null, revoked: false, expired: false, audiences: [u], holders: new Set([u]), served: new Set([u]) });
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
          entries.push({ cap, video: entry.video, parent: entry, revoked: false, expired: o.expire, audiences: entry.audiences, holders: new Set([who]), served: new Set() });
          break;
        }
        case 'delegate': {
          const to = USERS[o.to]!;
          if (to === who) break;
          const expected = expectedError(entry, who);
          const arrived = expected === null ? next(clients.get(to)!.delegations) : undefined;
          const outcome = await client.delegate(entry.cap, { to, bearer: o.bearer }).then(() => null, (e: { code: string }) => e.code);
          expect(outcome, `delegate by ${who} to ${to}`).toBe(expected);
          if (arrived) {
            entry.served.add(who);
            const { cap } = await arrived;
            const audiences = o.bearer ? [] : [to];
            expect(cap.audiences, 'a delegation is re-minted, bound to its recipient unless bearer').toEqual(audiences);
            entries.push({ cap, video: entry.video, parent: entry, revoked: false, expired: false, audiences, holders: new Set([to]), served: new Set([to]) });
          }
          break;
        }
        case 'steal': {
          // The bytes leave one client and reach another (a log, devtools, a proxy): no server involved.
          const to = USERS[o.to]!;
          entry.holders.add(to);
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
            // A valid capability that arrives becomes cover of the connection it arrived on.
            if (expected === null) entry.served.add(who);
            for (const c of clients.values()) await roundTrip(c);
          })();
          for (const [u, c] of clients) frames.set(u, collectUntil(c.frames as never, done));
          await done;
          for (const u of USERS) {
            const pushes = (await frames.get(u)!).filter((f) => f[0] === FrameType.push && (f[1] as unknown[])[1] === entry.video);
            const covered = expected === null && entries.some((e) => e.video === entry.video && e.served.has(u) && !broken(e) && e.audiences.every((a) => a === u));
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

describe('binding, delegation, revocation and expiry against a model', () => {
  it('never yields a push or a call result the model forbids', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 24 }), run), { numRuns: 60, ...(process.env.CAPSYNC_SEED ? { seed: Number(process.env.CAPSYNC_SEED) } : {}) });
  }, 120_000);
});
