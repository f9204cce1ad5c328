import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const server = process.env['REDIS_SERVER'] ?? 'redis-server';
const cli = process.env['REDIS_CLI'] ?? 'redis-cli';

/** A real Redis Cluster of child processes (masters only), on 127.0.0.1. */
export interface RedisCluster {
  /** The nodes' ports (each also uses port + 10000 for the cluster bus). */
  readonly ports: readonly number[];
  /** Seed URLs, one per node (`redis://127.0.0.1:port`). */
  readonly urls: readonly string[];
  /** Runs redis-cli against one node (`-p port`) and resolves with its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** Kills every node and removes their folders. */
  stop(): Promise<void>;
}

/** True when `port` and its cluster-bus port (port + 10000) are both free on 127.0.0.1 now. */
async function free(port: number): Promise<boolean> {
  const probe = (p: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  return (await probe(port)) && (await probe(port + 10_000));
}

/**
 * `n` free ports below 55536 (a node's cluster bus listens on port + 10000, so the OS's ephemeral ports,
 * often above that, would not do; and redis-server cannot take port 0 in cluster mode).
 */
async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 200) throw new Error('no free port pair found for a Redis Cluster node');
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (!ports.includes(port) && !ports.includes(port + 10_000) && !ports.includes(port - 10_000) && (await free(port))) ports.push(port);
  }
  return ports;
}

/** Starts one cluster-enabled redis-server and resolves once it accepts connections. */
function launch(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', '',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000',
    '--appendonly', 'yes', '--appendfsync', 'always',
  ];
  const child = spawn(server, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server (cluster node on ${port}) did not start within 10 s:\n${log}`));
    }, 10_000);
    child.once('error', (error) => (clearTimeout(limit), reject(error)));
    child.once('exit', () => (clearTimeout(limit), reject(new Error(`redis-server (cluster node on ${port}) exited:\n${log}`))));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-8192)));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-8192);
      if (!/Ready to accept connections/.test(log)) return;
      clearTimeout(limit);
      resolve(child);
    });
  });
}

/**
 * Starts a real Redis Cluster: `nodes` (default 3) redis-server processes with `--cluster-enabled yes`, each on
 * its own free port and data folder (its `cluster-config-file` in it, AOF with fsync always), joined with
 * `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and resolves once every node reports
 * `cluster_state:ok` and the same slot map. `stop()` kills them and removes the folders; a failed start does
 * the same before it rejects.
 */
export async function startRedisCluster(nodes = 3): Promise<RedisCluster> {
  const ports = await freePorts(nodes);
  const dirs = ports.map(() => mkdtempSync(join(tmpdir(), 'capsync-redis-cluster-')));
  const children: ChildProcess[] = [];
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async (): Promise<void> => {
    const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((resolve) => c.once('exit', resolve)));
    killAll();
    await Promise.all(exits);
    process.removeListener('exit', killAll);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const cliOn = async (port: number, ...args: string[]): Promise<string> => (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 })).stdout;
  try {
    for (let i = 0; i < nodes; i++) children.push(await launch(ports[i]!, dirs[i]!));
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    // `--cluster create` returns once the slots are assigned; the nodes agree a moment later (gossip).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(ports.map((p) => cliOn(p, 'cluster', 'info')));
      const known = await Promise.all(ports.map((p) => cliOn(p, 'cluster', 'nodes')));
      const ok = infos.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info));
      const agreed = known.every((text) => text.trim().split('\n').filter((line) => / master /.test(line) || /,master /.test(line)).length === nodes);
      if (ok && agreed) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within 20 s:\n${infos.join('\n')}`);
      // Bounded poll: Redis has no event for "the cluster agrees".
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), cli: cliOn, stop };
}
