import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, type CapsyncClient } from '../../client/index.js';
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';

// From dist/bench/cluster (the built bench) or bench/cluster (the sources, in the test): the nodes are the built demo.
export const root = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../../..' : '../..', import.meta.url));
export const SECRET = 'bench-cluster-secret-bench-cluster-secret-0123';

/** Starts the built demo server as a child (`dist/examples/video/main.js`); resolves with its URL once it listens. */
export function startNode(args: string[], children: ChildProcess[]): Promise<string> {
  const entry = join(root, 'dist', 'examples', 'video', 'main.js');
  const child = spawn(process.execPath, [entry, '--port', '0', '--log-level', 'error', `--jwt-secret=${SECRET}`, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      const match = /listening on (ws:\/\/\S+)/.exec(text);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`node exited (${code}) before it listened: ${text}`)));
  });
}

/**
 * Calls per second: `clientsPerNode` editors on each of `nodes` node processes, each calling
 * `set_video_description` (a verified capability, a keyed call's record, a read-modify-write of the video
 * and its push) back to back for `seconds`. `objects`: `'own'` gives each client a video of its own (added
 * through `add_video`), so the figure is the path's cost; `'shared'` has every client on every node edit the
 * demo's 3 videos, where a node runs one update per video at a time and nodes retry on each other's
 * version conflicts (contention, not throughput).
 * `redisUrl` undefined: one node on its own in-memory SQLite store (the single-node baseline).
 */
export async function callsPerSecond(redisUrl: string | undefined, nodes: number, clientsPerNode: number, seconds: number, objects: 'own' | 'shared' = 'own'): Promise<CallsFigure> {
  const children: ChildProcess[] = [];
  const clients: CapsyncClient[] = [];
  try {
    const urls: string[] = [];
    // One after the other: the first seeds the videos.
    for (let i = 0; i < nodes; i++) urls.push(await startNode(redisUrl ? ['--redis', redisUrl, '--redis-durability', 'none', '--data', ':memory:'] : ['--data', ':memory:'], children));
    const auth = new Authenticator({ secret: SECRET });
    for (const url of urls) {
      for (let c = 0; c < clientsPerNode; c++) clients.push(await connect(url, { token: await auth.issue({ id: `editor${c}`, roles: ['editor', 'admin'] }) }));
    }
    const videos = await Promise.all(
      clients.map((c) => whenFresh(async () => (objects === 'own' ? [await c.call<Video>('add_video', 'bench', '')] : await c.call<Video[]>('get_my_videos')))),
    );
    const cpuBefore = nodeCpu(children);
    let calls = 0;
    const refused = { count: 0 };
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      clients.map(async (c, i) => {
        const list = videos[i]!;
        for (let n = 0; performance.now() < end; n++) {
          await whenFresh(() => c.call('set_video_description', list[n % list.length]!.cap, `call ${i}.${n}`), refused);
          calls++;
        }
      }),
    );
    const cpu = nodeCpu(children).map((t, i) => t - cpuBefore[i]!);
    return { nodes, objects, calls, perSecond: Math.round(calls / seconds), nodeCpuMsPerCall: Math.round((cpu.reduce((a, b) => a + b, 0) / Math.max(1, calls)) * 100) / 100, staleRefusals: refused.count };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await killAll(children);
  }
}

/** SIGKILLs the node processes, resolving once they exited. */
export async function killAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

/**
 * A call retried while the node refuses capability use because its revocation feed is behind
 * (`ERR_REVOCATION_FEED_STALE`: on a loaded machine a node's feed can be silent past its 1 s limit).
 * Counts the refusals in `refused`.
 */
export async function whenFresh<T>(call: () => Promise<T>, refused: { count: number } = { count: 0 }): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_REVOCATION_FEED_STALE' || attempt >= 100) throw error;
      refused.count++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** One calls/s figure. */
export interface CallsFigure {
  readonly nodes: number;
  readonly objects: 'own' | 'shared';
  readonly calls: number;
  readonly perSecond: number;
  /** CPU time (user + system) the node processes spent per call: what the machine's load cannot skew much. */
  readonly nodeCpuMsPerCall: number;
  /** Calls refused with ERR_REVOCATION_FEED_STALE (retried; not counted in `calls`). */
  readonly staleRefusals: number;
}

/** CPU time (ms) of each child so far, from /proc (0 where it cannot be read). */
export function nodeCpu(children: readonly ChildProcess[]): number[] {
  return children.map((c) => {
    try {
      const fields = readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      // utime and stime, fields 14 and 15 of stat (12 and 13 after the command name), in clock ticks (100/s).
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return 0;
    }
  });
}

/**
 * `redis-benchmark` on the bench's Redis with 20 clients: SET, GET, PUBLISH and SPUBLISH (the bus's command,
 * which its `-t` tests lack, so it runs as a command line), requests/s. Undefined when it is not installed.
 */
export async function redisBenchmark(port: number, requests: number): Promise<Record<string, number> | undefined> {
  const base = ['-h', '127.0.0.1', '-p', String(port), '-q', '-n', String(requests), '-c', '20'];
  const standard = await runBenchmark([...base, '-t', 'set,get,publish']);
  if (standard === undefined) return undefined;
  const sharded = await runBenchmark([...base, 'SPUBLISH', 'bench-channel', 'message']);
  return { ...standard, ...(sharded ? { SPUBLISH: Object.values(sharded)[0]! } : {}) };
}

function runBenchmark(args: string[]): Promise<Record<string, number> | undefined> {
  return new Promise((resolve) => {
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.once('error', () => resolve(undefined));
    child.once('exit', () => {
      const found: Record<string, number> = {};
      // Lines like "SET: 61728.39 requests per second, p50=0.175 msec" (a command line's named by it); progress lines end in \r.
      for (const m of text.matchAll(/(?:^|\r|\n)"?([A-Za-z_][^:\r\n]*?)"?: ([\d.]+) requests per second/g)) found[m[1]!.split(' ')[0]!.toUpperCase()] = Number(m[2]);
      resolve(Object.keys(found).length > 0 ? found : undefined);
    });
  });
}
