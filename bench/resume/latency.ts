import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildLink } from '../peers/ipc.js';
import { median, Samples, type LatencySummary } from '../peers/stats.js';
import { CARDS_PER_FOLDER, FOLDERS } from './item.js';
import type { Expected, ResumeSample, Timed } from './load.js';
import { profiling } from './herd.js';
import type { ResumeOptions } from './options.js';

/** The kinds of part (a), each timed from the socket's open to caught up. */
export const kinds = ['incremental', 'snapshot', 'reload', 'floorIncremental', 'floorSnapshot'] as const;
export type Kind = (typeof kinds)[number];

/** One round of part (a): a summary per kind, from the socket's open and from its dial. */
export interface LatencyRound {
  readonly round: number;
  readonly fromOpen: Record<Kind, LatencySummary>;
  readonly fromDial: Record<Kind, LatencySummary>;
}

/** Part (a) as a whole: rounds, correctness checks and frame sizes. */
export interface LatencyResult {
  readonly capabilities: number;
  readonly cards: number;
  /** Changes per away period: covered cards (the states expected) and other users' cards (filtered out). */
  readonly changed: number;
  readonly noise: number;
  readonly rounds: LatencyRound[];
  /** Every incremental resume's state count and applied count, and every snapshot's state count. */
  readonly incrementalStates: { readonly min: number; readonly max: number; readonly exact: number; readonly applied: number; readonly count: number };
  readonly snapshotStates: { readonly min: number; readonly max: number; readonly exact: number; readonly count: number };
  readonly reloadCards: number;
  /** A client that got live pushes, then went away while 10 more changed: states its resume brought. */
  readonly afterLivePushes: { readonly expected: number; readonly received: number };
  readonly frameBytes: { readonly incremental: { sent: number[]; received: number[] }; readonly snapshot: { sent: number; received: number; frames: number } };
  /**
   * CPU ms per incremental resume and per reload, in the server process and in the client's (load) process:
   * medians over every measured one. CPU time, unlike wall time, hardly grows with the machine's load.
   */
  readonly cpuMs: { readonly incremental: CpuSplit; readonly reload: CpuSplit };
}

/** CPU ms of one operation on each side (each includes one IPC request of the runner, about 0.1 ms). */
export interface CpuSplit {
  readonly server: number;
  readonly client: number;
}

const script = (name: string): URL => new URL(`./${name}.js`, import.meta.url);
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/**
 * Part (a): one client holding 100 folder capabilities over 1,000 cards. Each repetition drops its socket,
 * changes 10 of its cards (one in each of 10 folders) and 90 cards of other users, lets it back and times the
 * resume; then a snapshot (server B, another store epoch, and back), a reload (fresh connection, hello, one
 * call for every capability and card) and the floors (plain ws, the same frame sizes), interleaved.
 */
export async function measureLatency(options: ResumeOptions, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<LatencyResult> {
  const data = mkdtempSync(join(tmpdir(), 'capsync-bench-resume-'));
  const server = ChildLink.fork('latency server', script('server'), { args: ['--mode', 'latency', '--data', data], env, execArgv: profiling(options) });
  const load = ChildLink.fork('latency load', script('load'), { env, execArgv: profiling(options) });
  try {
    const urls = await server.ready<{ a: string; b: string; floor: string }>();
    await load.ready();
    const joined = await load.request<{ caps: number; cards: number; allCards: boolean }>('reader-connect', { url: urls.a });
    if (joined.caps !== FOLDERS || joined.cards !== FOLDERS * CARDS_PER_FOLDER || !joined.allCards) throw new Error(`reader got ${joined.caps} capabilities and ${joined.cards} cards`);
    const changed = 10;
    const noise = 90;
    const inc = { min: Infinity, max: 0, exact: 0, applied: 0, count: 0 };
    const snap = { min: Infinity, max: 0, exact: 0, count: 0 };
    let reloadCards = 0;

    const cpu = { incremental: { server: [] as number[], client: [] as number[] }, reload: { server: [] as number[], client: [] as number[] } };
    // CPU of each process across `run`: read before and after, outside it (so the runner's own changes do not count).
    const cpuOf = async <T>(into: { server: number[]; client: number[] }, run: () => Promise<T>): Promise<T> => {
      const [s0, c0] = await Promise.all([server.request<number>('cpu'), load.request<number>('cpu')]);
      const result = await run();
      const [s1, c1] = await Promise.all([server.request<number>('cpu'), load.request<number>('cpu')]);
      into.server.push(s1 - s0);
      into.client.push(c1 - c0);
      return result;
    };
    const incremental = async (record = false): Promise<ResumeSample> => {
      await load.request('away');
      const expected = await server.request<Expected[]>('change', { count: changed, noise });
      const s = await cpuOf(cpu.incremental, () => load.request<ResumeSample>('resume', { expected, record }));
      Object.assign(inc, { min: Math.min(inc.min, s.states), max: Math.max(inc.max, s.states), exact: inc.exact + Number(s.states === changed), applied: inc.applied + Number(s.applied === changed), count: inc.count + 1 });
      return s;
    };
    const snapshot = async (target: string | undefined, record = false): Promise<ResumeSample> => {
      await load.request('away');
      const s = await load.request<ResumeSample>('resume', { target, expected: [], record });
      const all = FOLDERS * CARDS_PER_FOLDER;
      Object.assign(snap, { min: Math.min(snap.min, s.states), max: Math.max(snap.max, s.states), exact: snap.exact + Number(s.states === all), count: snap.count + 1 });
      return s;
    };
    const reload = async (): Promise<Timed> => {
      const r = await cpuOf(cpu.reload, () => load.request<Timed & { caps: number; cards: number }>('reload', { url: urls.a }));
      reloadCards = Math.max(reloadCards, r.cards);
      return r;
    };

    // Warm-up (discarded), and the frame sizes the floors reproduce.
    const sized = await incremental(true);
    const sizedSnapshot = await snapshot(urls.b, true);
    await snapshot(undefined);
    const floorIncremental = { url: urls.floor, requestBytes: sized.sentBytes[0] ?? 0, sizes: sized.receivedBytes };
    const floorSnapshot = { url: urls.floor, requestBytes: sizedSnapshot.sentBytes[0] ?? 0, sizes: sizedSnapshot.receivedBytes };
    for (let i = 0; i < 3; i++) {
      await incremental();
      await reload();
      await load.request('floor', floorIncremental);
      await load.request('floor', floorSnapshot);
    }
    Object.assign(inc, { min: Infinity, max: 0, exact: 0, applied: 0, count: 0 });
    Object.assign(snap, { min: Infinity, max: 0, exact: 0, count: 0 });
    for (const split of Object.values(cpu)) split.server.length = split.client.length = 0;

    const rounds: LatencyRound[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const open = Object.fromEntries(kinds.map((k) => [k, new Samples()])) as Record<Kind, Samples>;
      const dial = Object.fromEntries(kinds.map((k) => [k, new Samples()])) as Record<Kind, Samples>;
      const add = (kind: Kind, t: Timed): void => {
        open[kind].add(t.fromOpenMs);
        dial[kind].add(t.fromDialMs);
      };
      for (let rep = 0; rep < options.repetitions; rep++) {
        add('incremental', await incremental());
        // To the other store and back: both are snapshots (each store's epoch differs from the last one seen).
        add('snapshot', await snapshot(urls.b));
        add('snapshot', await snapshot(undefined));
        add('reload', await reload());
        add('floorIncremental', await load.request<Timed>('floor', floorIncremental));
        add('floorSnapshot', await load.request<Timed>('floor', floorSnapshot));
      }
      const summary = (s: Record<Kind, Samples>) => Object.fromEntries(kinds.map((k) => [k, s[k].summary()])) as Record<Kind, LatencySummary>;
      rounds.push({ round, fromOpen: summary(open), fromDial: summary(dial) });
      const r = rounds[rounds.length - 1]!.fromOpen;
      log(`resume round ${round}/${options.rounds}: incremental p50 ${r.incremental.p50.toFixed(2)} p99 ${r.incremental.p99.toFixed(2)} ms, snapshot p50 ${r.snapshot.p50.toFixed(2)} ms, reload p50 ${r.reload.p50.toFixed(2)} ms, floor p50 ${r.floorIncremental.p50.toFixed(2)} ms`);
    }

    // Live pushes first, then away: the resume should bring the 10 new changes only.
    await load.request('expect-pushes', { count: changed });
    await server.request('change', { count: changed, noise: 0 });
    await load.request('await-pushes');
    await load.request('away');
    const expected = await server.request<Expected[]>('change', { count: changed, noise: 0 });
    const afterLive = await load.request<ResumeSample>('resume', { expected, record: false });

    return {
      capabilities: joined.caps, cards: joined.cards, changed, noise, rounds,
      incrementalStates: inc, snapshotStates: snap, reloadCards,
      afterLivePushes: { expected: changed, received: afterLive.states },
      cpuMs: {
        incremental: { server: median(cpu.incremental.server), client: median(cpu.incremental.client) },
        reload: { server: median(cpu.reload.server), client: median(cpu.reload.client) },
      },
      frameBytes: {
        incremental: { sent: sized.sentBytes, received: sized.receivedBytes },
        snapshot: { sent: sum(sizedSnapshot.sentBytes), received: sum(sizedSnapshot.receivedBytes), frames: sizedSnapshot.receivedBytes.length },
      },
    };
  } finally {
    await Promise.all([load.stop(), server.stop()]);
    rmSync(data, { recursive: true, force: true });
  }
}
