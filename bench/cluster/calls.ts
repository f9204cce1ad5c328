import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, type CapsyncClient } from '../../client/index.js';
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import { ChildLink } from '../peers/ipc.js';

// From dist/bench/cluster (the built bench) or bench/cluster (the sources, in the test): the nodes are the built demo.
export const root = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../../..' : '../..', import.meta.url));
export const SECRET = 'bench-cluster-secret-bench-cluster-secret-0123';

/**
 * Forks a bench node (`node.ts`, built: `dist/bench/cluster/node.js`) with `args` (`--redis URL`,
 * `--presence none`, `--one-script-per-write`); resolves with its URL once it listens. `links` collects it
 * for {@link killAll}.
 */
export async function startNode(args: string[], links: ChildLink[]): Promise<string> {
  const link = ChildLink.fork(`bench node ${links.length}`, pathToFileURL(join(root, 'dist', 'bench', 'cluster', 'node.js')), {
    args: ['--secret', SECRET, '--node', `bench${links.length}`, ...args],
  });
  links.push(link);
  return (await link.ready<{ url: string }>()).url;
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
export async function callsPerSecond(
  redisUrl: string | undefined,
  nodes: number,
  clientsPerNode: number,
  seconds: number,
  objects: 'own' | 'shared' = 'own',
  grouped = true,
): Promise<CallsFigure> {
  const children: ChildLink[] = [];
  const clients: CapsyncClient[] = [];
  try {
    const urls: string[] = [];
    // One after the other: the first seeds the videos.
    for (let i = 0; i < nodes; i++) urls.push(await startNode(redisUrl ? ['--redis', redisUrl, ...(grouped ? [] : ['--one-script-per-write'])] : [], children));
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
    return { nodes, objects, grouped, calls, perSecond: Math.round(calls / seconds), nodeCpuMsPerCall: Math.round((cpu.reduce((a, b) => a + b, 0) / Math.max(1, calls)) * 100) / 100, staleRefusals: refused.count };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await killAll(children);
  }
}

/** Stops the node processes, resolving once they exited. */
export async function killAll(links: readonly ChildLink[]): Promise<void> {
  await Promise.all(links.map((l) => l.stop()));
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
  /** Redis nodes only: false when each store write was a script of its own (`--one-script-per-write`). */
  readonly grouped: boolean;
  readonly calls: number;
  readonly perSecond: number;
  /** CPU time (user + system) the node processes spent per call: what the machine's load cannot skew much. */
  readonly nodeCpuMsPerCall: number;
  /** Calls refused with ERR_REVOCATION_FEED_STALE (retried; not counted in `calls`). */
  readonly staleRefusals: number;
}

/** CPU time (ms) of each child so far, from /proc (0 where it cannot be read). */
export function nodeCpu(links: readonly ChildLink[]): number[] {
  return links.map(({ child: c }) => {
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
