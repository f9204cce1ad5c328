import { connect } from '../../client/index.js';
import type { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import { closeCodeClasses, CloseCode, isErrorCode } from '../../protocol/errors.js';
import { FrameType, peekRequestId } from '../../protocol/frames.js';
import { buildCorpus, stamp, type Seed } from './corpus.js';
import { mutate } from './mutate.js';
import { Prng } from './prng.js';
import { RawPeer } from './raw-peer.js';

/** The server under fuzz: where it listens, JWTs for its users, and the RSS to watch (bytes). */
export interface FuzzTarget {
  readonly url: string;
  /** A JWT for `user`: `fuzzer` sends the mutated frames, `bystander` makes ordinary calls throughout. */
  token(user: 'fuzzer' | 'bystander'): Promise<string>;
  /** The server's resident set size now, in bytes. */
  rss(): number;
}

/** What to run. */
export interface FuzzOptions {
  readonly frames: number;
  readonly seed: number;
  /** Fuzzing connections, each one frame in flight (default 6). */
  readonly connections?: number;
  /** How long a frame whose id can be read may wait for its answer before it counts as unanswered (default 10 s). */
  readonly answerLimitMs?: number;
  /** Stops early after this many seconds (a bound for `npm test` on a loaded machine); default none. */
  readonly seconds?: number;
  /** Replays one frame: run only frame `only` of this seed (a failure's index). */
  readonly only?: number;
  /** Hears a progress line now and then. */
  readonly progress?: (line: string) => void;
}

/** One frame the server mishandled, with what is needed to send it again. */
export interface FuzzFailure {
  readonly index: number;
  readonly problem: string;
  readonly seed: string;
  readonly applied: readonly string[];
  /** The frame's bytes in hex (first 4 KiB), or the text sent. */
  readonly frame: string;
}

/** The outcome of a run. */
export interface FuzzReport {
  readonly seed: number;
  readonly frames: number;
  readonly seconds: number;
  /** Answers by kind: `error:<code>`, `result`, `silent` (no answer; the frame needs none), `close:<code>`. */
  readonly outcomes: Record<string, number>;
  readonly rss: { readonly start: number; readonly peak: number; readonly end: number };
  readonly bystander: { readonly calls: number; readonly failed: number; readonly maxMs: number };
  readonly reconnects: number;
  /** The frame whose answer took longest, from sending it to its answer. */
  readonly slowest: { readonly index: number; readonly ms: number; readonly applied: readonly string[]; readonly seed: string };
  readonly failures: FuzzFailure[];
}

/** Close codes a fuzzed connection may end with: every documented code but an internal failure and an abnormal drop. */
const acceptedCloses = new Set(Object.keys(closeCodeClasses).map(Number).filter((c) => c !== CloseCode.internal && c !== CloseCode.abnormal));
const BARRIER_BASE = 2 ** 30;
const codec = new Codec();
const hex = (b: Uint8Array): string => Buffer.from(b.subarray(0, 4096)).toString('hex');

/**
 * Sends `frames` mutated frames (bit flips, truncations, splices, wrong types, oversize values, deep nesting,
 * extension garbage, duplicate keys, text frames) over real sockets, one in flight per connection, and checks
 * each answer: an error frame with a capsync code, a result, nothing (then the frame needed no answer: the
 * ping sent after it is answered first), or a close with a documented code; a frame whose request id can be
 * read must get an answer with that id. A bystander client calls the server throughout. Frame `i` is rebuilt
 * from (seed, i) alone, so a failure is reproduced by its seed and index.
 */
export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const { frames, seed } = options;
  const answerLimitMs = options.answerLimitMs ?? 10_000;
  const outcomes: Record<string, number> = {};
  const failures: FuzzFailure[] = [];
  const count = (key: string): void => void (outcomes[key] = (outcomes[key] ?? 0) + 1);
  const fuzzerJwt = await target.token('fuzzer');

  // The corpus: valid frames built from what the server sent this user.
  const probe = await RawPeer.open(target.url, fuzzerJwt);
  const got = probe.next((f) => Array.isArray(f) && f[0] === FrameType.result && f[1] === 1);
  probe.send(codec.encode([FrameType.call, 1, 'get_my_videos', []]));
  const videos = ((await got) as [number, number, { cap: Capability }[]])[2];
  await probe.close();
  const corpus: Seed[] = buildCorpus(videos.map((v) => v.cap).filter(Boolean), videos, fuzzerJwt);

  const rss = { start: target.rss(), peak: 0, end: 0 };
  rss.peak = rss.start;
  const bystander = { calls: 0, failed: 0, maxMs: 0 };
  let running = true;
  const watcher = await connect(target.url, { token: await target.token('bystander'), reconnect: false, callTimeoutMs: 30_000 });
  const bystanding = (async () => {
    while (running) {
      const started = performance.now();
      try {
        await watcher.call('get_my_videos');
        bystander.calls++;
      } catch {
        bystander.failed++;
      }
      bystander.maxMs = Math.max(bystander.maxMs, performance.now() - started);
      // Paced, as an ordinary client calls (not a synchronisation): the fuzz frames get the CPU.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();

  const onCrash = (error: unknown): void => {
    failures.push({ index: -1, problem: `uncaught in the process: ${String(error)}`, seed: '', applied: [], frame: '' });
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  let nextIndex = options.only ?? 0;
  const end = options.only === undefined ? frames : options.only + 1;
  let reconnects = 0;
  let slowest = { index: -1, ms: 0, applied: [] as readonly string[], seed: '' };
  const startedAt = performance.now();
  const stopAt = options.seconds === undefined ? Infinity : startedAt + options.seconds * 1000;
  const worker = async (): Promise<void> => {
    let peer: RawPeer | undefined;
    while (nextIndex < end && failures.length < 20 && performance.now() < stopAt) {
      if (peer === undefined || peer.closeCode !== undefined) {
        try {
          peer = await RawPeer.open(target.url, fuzzerJwt);
          reconnects++;
        } catch {
          // Refused (the user's connection bound while closed ones drain): try again; the bound is not a failure.
          peer = undefined;
          count('open refused');
          continue;
        }
      }
      const index = nextIndex++;
      const rng = Prng.forFrame(seed, index);
      const base = rng.pick(corpus);
      const other = rng.pick(corpus);
      let problem: string | undefined;
      let sent: Uint8Array | string;
      let applied: string[];
      if (rng.below(64) === 0) {
        sent = String.fromCharCode(...rng.bytes(1 + rng.below(32)).map((b) => 0x20 + (b % 95)));
        applied = ['text'];
      } else {
        ({ bytes: sent, applied } = mutate(stamp(base, 1_000_000 + index), stamp(other, 1_000_000 + index), rng));
      }
      const expectedId = typeof sent === 'string' ? null : peekRequestId(sent);
      peer.frames.length = 0;
      const answered = expectedId === null
        ? peer.next((f) => Array.isArray(f) && f[0] === FrameType.pong && f[1] === BARRIER_BASE + index)
        : peer.next((f) => Array.isArray(f) && (f[0] === FrameType.result || f[0] === FrameType.error) && f[1] === expectedId);
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), answerLimitMs)));
      const sentAt = performance.now();
      try {
        peer.send(sent);
        if (expectedId === null && peer.closeCode === undefined) peer.send(codec.encode([FrameType.ping, BARRIER_BASE + index]));
        const answer = await Promise.race([answered, limit]);
        if (answer === 'late') {
          problem = `no answer within ${answerLimitMs} ms (expected id ${expectedId})`;
        } else if (expectedId !== null) {
          const f = answer as unknown[];
          count(f[0] === FrameType.result ? 'result' : `error:${String(f[2])}`);
        } else {
          const error = peer.frames.find((f) => Array.isArray(f) && f[0] === FrameType.error) as unknown[] | undefined;
          count(error === undefined ? 'silent' : `error:${String(error[2])}`);
        }
      } catch {
        const { code } = await peer.closed;
        count(`close:${code}`);
        if (!acceptedCloses.has(code)) problem = `connection closed with ${code}`;
      } finally {
        clearTimeout(timer);
      }
      const ms = performance.now() - sentAt;
      if (ms > slowest.ms) slowest = { index, ms, applied, seed: base.name };
      for (const f of peer.frames) {
        if (f === undefined) problem ??= 'the server sent a frame its own client cannot decode';
        else if (Array.isArray(f) && f[0] === FrameType.error && (!isErrorCode(f[2]) || typeof f[3] !== 'string')) problem ??= `error frame without a capsync code: ${JSON.stringify(f).slice(0, 200)}`;
      }
      if (problem !== undefined) {
        failures.push({ index, problem, seed: base.name, applied, frame: typeof sent === 'string' ? JSON.stringify(sent) : hex(sent) });
        peer.socket.terminate();
        peer = undefined;
      }
      if (index % 256 === 0) {
        rss.peak = Math.max(rss.peak, target.rss());
        if (index % 8192 === 0 && index > 0) options.progress?.(`${index} frames, ${((performance.now() - startedAt) / 1000).toFixed(1)} s, rss ${(target.rss() / 2 ** 20).toFixed(1)} MiB`);
      }
    }
    await peer?.close();
  };
  try {
    await Promise.all(Array.from({ length: options.only === undefined ? (options.connections ?? 6) : 1 }, worker));
  } finally {
    running = false;
    await bystanding;
    await watcher.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  rss.end = target.rss();
  rss.peak = Math.max(rss.peak, rss.end);
  return { seed, frames: nextIndex - (options.only ?? 0), seconds: (performance.now() - startedAt) / 1000, outcomes, rss, bystander, reconnects, slowest, failures };
}

/** The report as lines: outcomes per code, RSS start/peak/end, the bystander, and each failure with how to replay it. */
export function formatReport(report: FuzzReport): string[] {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const lines = [
    `seed ${report.seed}: ${report.frames} frames in ${report.seconds.toFixed(1)} s (${Math.round(report.frames / report.seconds)}/s), ${report.reconnects} connections`,
    ...Object.entries(report.outcomes).sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${k.padEnd(36)} ${n}`),
    `rss start ${mib(report.rss.start)}, peak ${mib(report.rss.peak)}, end ${mib(report.rss.end)}`,
    `slowest answer: frame ${report.slowest.index} (${report.slowest.seed}; ${report.slowest.applied.join('+')}) in ${report.slowest.ms.toFixed(0)} ms`,
    `bystander: ${report.bystander.calls} calls served, ${report.bystander.failed} failed, slowest ${report.bystander.maxMs.toFixed(0)} ms`,
  ];
  for (const f of report.failures) lines.push(`FAILURE frame ${f.index} (${f.seed}; ${f.applied.join('+')}): ${f.problem}\n  replay: --seed ${report.seed} --only ${f.index}\n  bytes: ${f.frame}`);
  return lines;
}
