import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from '../peers/clock.js';
import { ChildLink } from '../peers/ipc.js';
import { median, quantile } from '../peers/stats.js';
import type { HerdResult } from './herd-load.js';
import { simulateBackoff, type BackoffModel } from './model.js';
import type { ResumeOptions } from './options.js';

/** One kill -9 and restart with every client connected. Times are ms from the kill. */
export interface HerdRound {
  readonly round: number;
  readonly clients: number;
  readonly resumed: number;
  readonly gaveUp: number;
  readonly firstError: string | null;
  /** Clients that got exactly one state (the one change of their group made while they were away). */
  readonly exactStates: number;
  readonly states: Record<string, number>;
  readonly dials: Record<string, number>;
  /** Sockets that ended during the herd: `never opened` (refused, or given up while connecting), or `opened <close code>` (opened, then dropped before the resume). */
  readonly closes: Record<string, number>;
  /** Clients whose cards do not all have the store's latest versions after the herd. */
  readonly mismatched: number;
  readonly dropNoticedMs: number;
  /** The server listens again. */
  readonly downtimeMs: number;
  readonly resumeMs: { readonly p50: number; readonly p99: number; readonly last: number };
  /** From the server listening to the last resume. */
  readonly herdWindowSeconds: number;
  readonly resumesPerSecond: { readonly mean: number; readonly peak1s: number };
  readonly serverCpu: {
    readonly startupSeconds: number;
    readonly herdSeconds: number;
    /** Mean cores busy from listening to the last resume, and the busiest 1 s of it. */
    readonly cores: number;
    readonly peak1sCores: number;
    /** Server CPU per resume: its inverse is the resumes per core-second the server could sustain. */
    readonly msPerResume: number;
  };
  readonly loadCpuSeconds: number;
  readonly model: BackoffModel;
  /** The backoff model's last resume over the measured one: how much of the herd time the backoff alone explains. */
  readonly backoffShare: number;
}

interface Ready {
  readonly url: string;
  readonly readyAt: number;
  readonly startupCpuSeconds: number;
}

const script = (name: string): URL => new URL(`./${name}.js`, import.meta.url);

/** Starts the herd server on `data` (and `port`), retrying a start the port refused for a moment. */
async function startServer(data: string, options: ResumeOptions, env: NodeJS.ProcessEnv, port: number, churn?: number): Promise<{ link: ChildLink; ready: Ready }> {
  const args = ['--mode', 'herd', '--data', data, '--groups', String(options.groups), '--port', String(port), ...(churn === undefined ? [] : ['--churn', String(churn)])];
  for (let attempt = 1; ; attempt++) {
    const link = ChildLink.fork('herd server', script('server'), { args, env, execArgv: profiling(options) });
    try {
      return { link, ready: await link.ready<Ready>() };
    } catch (error) {
      await link.stop();
      if (attempt >= 5) throw error;
    }
  }
}

/** `--cpu-prof` arguments for a server or load child when the run profiles. */
export function profiling(options: ResumeOptions): string[] {
  return options.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profile];
}

/** CPU seconds of the server at time `t`, interpolated in its 100 ms samples. */
function cpuAt(timeline: readonly [number, number][], t: number): number {
  let i = timeline.findIndex(([at]) => at >= t);
  if (i === -1) return timeline[timeline.length - 1]?.[1] ?? 0;
  if (i === 0) return timeline[0]![1];
  const [t0, c0] = timeline[i - 1]!;
  const [t1, c1] = timeline[i]!;
  return c0 + ((c1 - c0) * (t - t0)) / (t1 - t0);
}

/** The most resumes in any 1 s window (times sorted ascending). */
function peakPerSecond(sorted: readonly number[]): number {
  let best = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! > 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/**
 * Part (b): `options.clients` clients over `options.loadProcesses` load processes, the server killed with -9 and
 * restarted on the same data folder `options.herdRounds` times; each round waits until every client resumed.
 */
export async function measureHerd(options: ResumeOptions, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<HerdRound[]> {
  const data = mkdtempSync(join(tmpdir(), 'capsync-bench-resume-'));
  const loads: ChildLink[] = [];
  let server: ChildLink | undefined;
  try {
    const first = await startServer(data, options, env, 0);
    server = first.link;
    const url = first.ready.url;
    const port = Number(new URL(url).port);
    for (let p = 0; p < options.loadProcesses; p++) loads.push(ChildLink.fork(`herd load ${p + 1}`, script('load'), { env, execArgv: profiling(options) }));
    await Promise.all(loads.map((l) => l.ready()));
    const share = Math.ceil(options.clients / loads.length);
    const started = now();
    const joined = await Promise.all(
      loads.map((l, p) => l.request<{ connected: number; failed: number; firstError: string | null }>('herd-connect', {
        url, count: Math.max(0, Math.min(share, options.clients - p * share)), firstIndex: p * share, concurrency: 64, groups: options.groups,
      }, 600_000)),
    );
    const connected = joined.reduce((n, j) => n + j.connected, 0);
    log(`herd: ${connected} of ${options.clients} clients connected in ${((now() - started) / 1000).toFixed(1)} s` + (connected < options.clients ? ` (${joined.find((j) => j.firstError)?.firstError})` : ''));
    if (connected < options.clients) throw new Error(`only ${connected} of ${options.clients} herd clients connected: ${joined.find((j) => j.firstError)?.firstError}`);

    const rounds: HerdRound[] = [];
    for (let round = 1; round <= options.herdRounds; round++) {
      await Promise.all(loads.map((l) => l.request('herd-arm')));
      const exited = new Promise<void>((resolve) => server!.child.once('exit', () => resolve()));
      const killAt = now();
      server.child.kill('SIGKILL');
      await exited;
      const restarted = await startServer(data, options, env, port, round);
      server = restarted.link;
      const readyAt = restarted.ready.readyAt;
      const results = await Promise.all(loads.map((l) => l.request<HerdResult>('herd-await', { timeoutMs: options.herdTimeoutMs }, options.herdTimeoutMs + 30_000)));
      const timeline = await server.request<[number, number][]>('timeline');
      const versions = await server.request<[string, number[]][]>('versions');
      const mismatched = (await Promise.all(loads.map((l) => l.request<number>('herd-verify', { versions })))).reduce((a, b) => a + b, 0);
      rounds.push(summarise(round, killAt, readyAt, restarted.ready.startupCpuSeconds, results, timeline, mismatched));
      const r = rounds[rounds.length - 1]!;
      log(
        `herd round ${round}/${options.herdRounds}: ${r.resumed}/${r.clients} resumed, last ${(r.resumeMs.last / 1000).toFixed(2)} s after the kill ` +
          `(server down ${r.downtimeMs.toFixed(0)} ms; backoff model ${(r.model.lastMs / 1000).toFixed(2)} s), ${r.resumesPerSecond.peak1s} resumes/s peak, ` +
          `server ${r.serverCpu.cores.toFixed(2)} cores` + (r.gaveUp > 0 ? `, ${r.gaveUp} gave up (${r.firstError})` : '') +
          `; sockets ended meanwhile: ${JSON.stringify(r.closes)}`,
      );
      // A client still away would not count in the next round (it never went from connected to reconnecting).
      if (r.resumed + r.gaveUp < r.clients) {
        log(`herd: ${r.clients - r.resumed - r.gaveUp} clients not back within ${options.herdTimeoutMs / 1000} s; no further rounds`);
        break;
      }
    }
    return rounds;
  } finally {
    await Promise.all([...loads, ...(server ? [server] : [])].map((c) => c.stop()));
    rmSync(data, { recursive: true, force: true });
  }
}

function summarise(round: number, killAt: number, readyAt: number, startupCpu: number, results: readonly HerdResult[], timeline: [number, number][], mismatched: number): HerdRound {
  const resumedAt = results.flatMap((r) => r.resumedAt).sort((a, b) => a - b);
  const since = Float64Array.from(resumedAt, (t) => t - killAt);
  const clients = results.reduce((n, r) => n + r.clients, 0);
  const states: Record<string, number> = {};
  const dials: Record<string, number> = {};
  const closes: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.closes)) closes[k] = (closes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.states)) states[k] = (states[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.dials)) dials[k] = (dials[k] ?? 0) + v;
  }
  const last = resumedAt[resumedAt.length - 1] ?? readyAt;
  const windowSeconds = Math.max(1e-3, (last - readyAt) / 1000);
  const herdCpu = cpuAt(timeline, last) - cpuAt(timeline, readyAt);
  let peakCores = 0;
  for (let t = readyAt; t + 1000 <= last + 100; t += 100) peakCores = Math.max(peakCores, cpuAt(timeline, t + 1000) - cpuAt(timeline, t));
  const dropNoticedMs = median(results.flatMap((r) => r.droppedAt).map((t) => t - killAt));
  const model = simulateBackoff(clients, dropNoticedMs, readyAt - killAt);
  const lastMs = last - killAt;
  return {
    round, clients, resumed: resumedAt.length, gaveUp: results.reduce((n, r) => n + r.gaveUp, 0), firstError: results.find((r) => r.firstError)?.firstError ?? null,
    exactStates: states['1'] ?? 0, states, dials, closes, mismatched, dropNoticedMs, downtimeMs: readyAt - killAt,
    resumeMs: { p50: quantile(since, 0.5), p99: quantile(since, 0.99), last: lastMs },
    herdWindowSeconds: windowSeconds,
    resumesPerSecond: { mean: resumedAt.length / Math.max(1e-3, (last - (resumedAt[0] ?? last)) / 1000), peak1s: peakPerSecond(resumedAt) },
    serverCpu: { startupSeconds: startupCpu, herdSeconds: herdCpu, cores: herdCpu / windowSeconds, peak1sCores: peakCores, msPerResume: (herdCpu * 1000) / Math.max(1, resumedAt.length) },
    loadCpuSeconds: results.reduce((n, r) => n + r.loadCpuSeconds, 0),
    model, backoffShare: model.lastMs / lastMs,
  };
}
