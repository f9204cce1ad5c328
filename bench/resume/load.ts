import WebSocket from 'ws';
import type { CapsyncClient } from '../../client/index.js';
import { Authenticator } from '../../server/auth.js';
import { now } from '../peers/clock.js';
import { announceReady, serveRequests } from '../peers/ipc.js';
import { herdHandlers } from './herd-load.js';
import { Card, type Holdings } from './item.js';
import { Gate, nextState, Tap } from './socket.js';

/**
 * The load child of `npm run bench:resume`: the measured client of part (a) and its baselines, and (through
 * herd-load.ts) the clients of part (b). Every time is taken here, on the monotonic clock.
 */
const secret = process.env['CAPSYNC_BENCH_SECRET'];
if (secret === undefined) throw new Error('started by bench/resume/run.ts');
const auth = new Authenticator({ secret });

/** One timed catch-up: from the socket's open (and from its dial) to the answer. */
export interface Timed {
  readonly fromOpenMs: number;
  readonly fromDialMs: number;
}

/** A resume of the measured client, as it saw it. */
export interface ResumeSample extends Timed {
  /** Push frames that arrived on the new socket before the resume's answer. */
  readonly states: number;
  /** How many of the expected new versions the client's own card instances now have. */
  readonly applied: number;
  /** Frame sizes on the socket, when recorded: what the floor reproduces. */
  readonly sentBytes: number[];
  readonly receivedBytes: number[];
}

/** The expected new version of a card after a change. */
export interface Expected {
  readonly address: string[];
  readonly version: number;
}

/** The measured client; `holdings` is kept as an app keeps what it shows (the client holds capabilities weakly). */
let reader: { client: CapsyncClient; tap: Tap; gate: Gate; holdings: Holdings; cards: Map<string, Card> } | undefined;
let pushes = 0;
let waitFor: { count: number; resolve: () => void } | undefined;

const key = (address: readonly string[]): string => address.join('/');
const token = (user: string): Promise<string> => auth.issue({ id: user, roles: [] });

serveRequests({
  ...herdHandlers(auth),
  /** This process's CPU time so far, in ms. */
  cpu: () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
  /** Connects the measured client and loads its 100 capabilities and 1,000 cards. */
  'reader-connect': async ({ url }: { url: string }) => {
    const jwt = await token('reader');
    const tap = new Tap();
    const gate = new Gate();
    // The token function waits at the gate: a dropped client stays away until the changes are made. With
    // the gate, the backoff's random delay only adds idle time, so it is pinned to 0 here (not in the herd).
    const client = await tap.connect(url, { token: async () => (await gate.wait(), jwt), reconnect: { random: () => 0 }, callTimeoutMs: 60_000 });
    tap.onOpen = () => (pushes = 0);
    client.frames.subscribe((frame) => {
      if (frame[0] !== 4) return;
      pushes++;
      if (waitFor !== undefined && pushes >= waitFor.count) waitFor.resolve();
    });
    const holdings = await client.call<Holdings>('open_folders');
    const cards = new Map(holdings.cards.map((c) => [key(['rs', c.folder, c.id]), c]));
    reader = { client, tap, gate, holdings, cards };
    return { caps: holdings.caps.length, cards: cards.size, allCards: holdings.cards.every((c) => c instanceof Card) };
  },
  /** Arms a wait for `count` live pushes on the current socket (before the runner makes the changes). */
  'expect-pushes': ({ count }: { count: number }) => {
    pushes = 0;
    waitFor = { count, resolve: () => {} };
    return null;
  },
  'await-pushes': async () => {
    const w = waitFor!;
    if (pushes < w.count) await new Promise<void>((resolve) => (w.resolve = resolve));
    waitFor = undefined;
    return pushes;
  },
  /** Drops the measured client's socket (as a network blip would) and holds it away at the gate. */
  away: async () => {
    const r = reader!;
    r.gate.close();
    const dropped = nextState(r.client, 'reconnecting');
    r.tap.current!.terminate();
    await dropped;
    return null;
  },
  /** Lets the client back (to `target`, or its own URL) and times its resume until the answer. */
  resume: async ({ target, expected, record }: { target?: string; expected: Expected[]; record: boolean }): Promise<ResumeSample> => {
    const r = reader!;
    r.tap.target = target;
    r.tap.recording = record;
    r.tap.sent.length = 0;
    r.tap.received.length = 0;
    const caught = nextState(r.client, 'connected');
    r.gate.open();
    await caught;
    const at = now();
    r.tap.recording = false;
    const applied = expected.filter((e) => r.cards.get(key(e.address))?.version === e.version).length;
    return { fromOpenMs: at - r.tap.openedAt, fromDialMs: at - r.tap.dialedAt, states: pushes, applied, sentBytes: [...r.tap.sent], receivedBytes: [...r.tap.received] };
  },
  /** The baseline an app without resume pays: a fresh connection, its hello, and one call for everything. */
  reload: async ({ url }: { url: string }) => {
    const tap = new Tap();
    const client = await tap.connect(url, { token: await token('reader'), reconnect: false, callTimeoutMs: 60_000 });
    const holdings = await client.call<Holdings>('open_folders');
    const at = now();
    await client.close();
    return { fromOpenMs: at - tap.openedAt, fromDialMs: at - tap.dialedAt, caps: holdings.caps.length, cards: holdings.cards.length };
  },
  /** The floor: a plain ws socket that sends one frame of `requestBytes` and gets frames of `sizes` back. */
  floor: ({ url, requestBytes, sizes }: { url: string; requestBytes: number; sizes: number[] }) =>
    new Promise<Timed>((resolve, reject) => {
      const dialedAt = now();
      let openedAt = 0;
      let left = sizes.length;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', reject);
      ws.on('open', () => {
        openedAt = now();
        const frame = Buffer.alloc(Math.max(requestBytes, 4 + 4 * sizes.length));
        frame.writeUInt32LE(sizes.length, 0);
        sizes.forEach((size, i) => frame.writeUInt32LE(size, 4 + 4 * i));
        ws.send(frame);
      });
      ws.on('message', () => {
        if (--left > 0) return;
        const at = now();
        ws.close();
        ws.once('close', () => resolve({ fromOpenMs: at - openedAt, fromDialMs: at - dialedAt }));
      });
    }),
});
announceReady(null);
