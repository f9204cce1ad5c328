import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, type CapsyncClient } from '../../client/index.js';
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';

// From dist/bench/cluster (the built bench) or bench/cluster (the sources, in the test): the nodes are the built demo.
const root = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../../..' : '../..', import.meta.url));
const SECRET = 'bench-cluster-secret-bench-cluster-secret-0123';

/** Starts the built demo server as a child (`dist/examples/video/main.js`); resolves with its URL once it listens. */
function startNode(args: string[], children: ChildProcess[]): Promise<string> {
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
 * `set_video_description` (a verified capability, a store write and its push) back to back for `seconds`.
 * `redisUrl` undefined: one node on its own in-memory SQLite store (the single-node baseline).
 */
export async function callsPerSecond(redisUrl: string | undefined, nodes: number, clientsPerNode: number, seconds: number): Promise<{ nodes: number; calls: number; perSecond: number }> {
  const children: ChildProcess[] = [];
  const clients: CapsyncClient[] = [];
  try {
    const urls: string[] = [];
    // One after the other: the first seeds the videos.
    for (let i = 0; i < nodes; i++) urls.push(await startNode(redisUrl ? ['--redis', redisUrl, '--data', ':memory:'] : ['--data', ':memory:'], children));
    const auth = new Authenticator({ secret: SECRET });
    for (const url of urls) {
      for (let c = 0; c < clientsPerNode; c++) clients.push(await connect(url, { token: await auth.issue({ id: `editor${c}`, roles: ['editor'] }) }));
    }
    const videos = await Promise.all(clients.map(async (c) => (await c.call<Video[]>('get_my_videos'))));
    let calls = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      clients.map(async (c, i) => {
        const list = videos[i]!;
        for (let n = 0; performance.now() < end; n++) {
          await c.call('set_video_description', list[n % list.length]!.cap, `call ${i}.${n}`);
          calls++;
        }
      }),
    );
    return { nodes, calls, perSecond: Math.round(calls / seconds) };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        return exited;
      }),
    );
  }
}

/** `redis-benchmark` on the bench's Redis (SET, GET, SPUBLISH-free: it has no sharded test), or undefined when it is not installed. */
export function redisBenchmark(port: number, requests: number): Promise<Record<string, number> | undefined> {
  return new Promise((resolve) => {
    const child = spawn('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-q', '-n', String(requests), '-c', '20', '-t', 'set,get,publish'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.once('error', () => resolve(undefined));
    child.once('exit', () => {
      const found: Record<string, number> = {};
      // Lines like "SET: 61728.39 requests per second, p50=0.175 msec"; progress lines end in \r.
      for (const m of text.matchAll(/([A-Z_]+): ([\d.]+) requests per second/g)) found[m[1]!] = Number(m[2]);
      resolve(Object.keys(found).length > 0 ? found : undefined);
    });
  });
}
