import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const server = process.env['REDIS_SERVER'] ?? 'redis-server';
const cli = process.env['REDIS_CLI'] ?? 'redis-cli';

/** A real Redis Cluster of child processes on 127.0.0.1: masters, and replicas if asked (tests and `bench:cluster`; test/redis re-exports this). */
export interface RedisCluster {
  /** The nodes' ports (each also uses port + 10000 for the cluster bus). */
  readonly ports: readonly number[];
  /** Seed URLs, one per node (`redis://127.0.0.1:port`). */
  readonly urls: readonly string[];
  /** Runs redis-cli against one node (`-p port`) and resolves with its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master serving `slot` now, and of its replicas, as `CLUSTER NODES` on `via` (default: a live node) says. */
  roles(slot: number, via?: number): Promise<{ master: number; replicas: number[] }>;
  /** Sends a signal to one node (`SIGKILL` resolves once it has exited; `SIGSTOP`/`SIGCONT` freeze and thaw it). */
  signal(port: number, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void>;
  /** Starts a killed node again on its port and folder (its `nodes.conf` and AOF): it rejoins, as a replica if it was failed over. */
  restart(port: number): Promise<void>;
  /** Resolves once the node's log has a line matching `pattern` (lines from before the call count too). */
  logged(port: number, pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the master on `master` has logged the replica on `replica` in sync (a full or a partial resync). */
  synced(master: number, replica: number, timeoutMs?: number): Promise<string>;
  /** Kills every node and removes their folders. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Masters (each serving a third of the slots with 3). Default 3. */
  readonly masters?: number;
  /** Replicas per master (`--cluster-replicas`), each a process of its own. Default 0. */
  readonly replicas?: number;
  /** `cluster-node-timeout`: how long a silent master has until its replica takes over (ms). Default 2000. */
  readonly nodeTimeoutMs?: number;
}

/** One node's process and everything it logged (for {@link RedisCluster.logged}). */
interface Node {
  readonly child: ChildProcess;
  log: string;
  readonly listeners: Set<() => void>;
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

/**
 * Starts one cluster-enabled redis-server and resolves once it accepts connections. A replica fails over even
 * after a long silence from its master (`cluster-replica-validity-factor 0`: a test may freeze it first), and a
 * master sends a new replica its data at once (`repl-diskless-sync-delay 0`, not after 5 s).
 */
function launch(port: number, dir: string, nodeTimeoutMs: number): Promise<Node> {
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', '',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', String(nodeTimeoutMs),
    '--cluster-replica-validity-factor', '0', '--repl-diskless-sync-delay', '0', '--appendonly', 'yes', '--appendfsync', 'always',
  ];
  const child = spawn(server, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const node: Node = { child, log: '', listeners: new Set() };
  const heard = (d: string): void => {
    // Kept whole: a test waits for lines such as a replica's "Failover election won" (a few KiB per test).
    node.log += d;
    for (const listener of [...node.listeners]) listener();
  };
  child.stderr!.setEncoding('utf8').on('data', heard);
  child.stdout!.setEncoding('utf8').on('data', heard);
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server (cluster node on ${port}) did not start within 10 s:\n${node.log}`));
    }, 10_000);
    const started = (): void => {
      if (!/Ready to accept connections/.test(node.log)) return;
      node.listeners.delete(started);
      child.removeListener('exit', exited);
      clearTimeout(limit);
      resolve(node);
    };
    const exited = (): void => (clearTimeout(limit), reject(new Error(`redis-server (cluster node on ${port}) exited:\n${node.log}`)));
    child.once('error', (error) => (clearTimeout(limit), reject(error)));
    child.once('exit', exited);
    node.listeners.add(started);
  });
}

/**
 * Starts a real Redis Cluster: `masters` (default 3) redis-server processes with `--cluster-enabled yes`, and
 * `replicas` (default 0) more per master, each on its own free port and data folder (its `cluster-config-file`
 * in it, AOF with fsync always), joined with `redis-cli --cluster create ... --cluster-replicas <replicas>
 * --cluster-yes`, and resolves once every node reports `cluster_state:ok` and the same masters, and every
 * replica's link to its master is up. `stop()` kills them and removes the folders; a failed start does the
 * same before it rejects. (A number is `{ masters }`.)
 */
export async function startRedisCluster(options: number | RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, replicas = 0, nodeTimeoutMs = 2000 } = typeof options === 'number' ? { masters: options } : options;
  const nodes = masters * (1 + replicas);
  const ports = await freePorts(nodes);
  const dirs = ports.map(() => mkdtempSync(join(tmpdir(), 'capsync-redis-cluster-')));
  const byPort = new Map<number, Node>();
  const children: ChildProcess[] = [];
  const frozen = new Set<number>();
  const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
  const killAll = (): void => {
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async (): Promise<void> => {
    const exits = children.filter(alive).map((c) => new Promise((resolve) => c.once('exit', resolve)));
    killAll();
    await Promise.all(exits);
    process.removeListener('exit', killAll);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const cliOn = async (port: number, ...args: string[]): Promise<string> => (await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 })).stdout;
  try {
    for (let i = 0; i < nodes; i++) {
      const node = await launch(ports[i]!, dirs[i]!, nodeTimeoutMs);
      children.push(node.child);
      byPort.set(ports[i]!, node);
    }
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 60_000 });
    // `--cluster create` returns once the slots are assigned; the nodes agree a moment later (gossip).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(ports.map((p) => cliOn(p, 'cluster', 'info')));
      const known = await Promise.all(ports.map((p) => cliOn(p, 'cluster', 'nodes')));
      const ok = infos.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info));
      const agreed = known.every((text) => text.trim().split('\n').filter((line) => / master /.test(line) || /,master /.test(line)).length === masters);
      const linked = replicas === 0 || (await Promise.all(ports.map((p) => cliOn(p, 'info', 'replication')))).filter((info) => /master_link_status:up/.test(info)).length === masters * replicas;
      if (ok && agreed && linked) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within 20 s:\n${infos.join('\n')}`);
      // Bounded poll: Redis has no event for "the cluster agrees".
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const nodeOf = (port: number): Node => {
    const node = byPort.get(port);
    if (node === undefined) throw new Error(`no Redis Cluster node on port ${port}`);
    return node;
  };
  const roles = async (slot: number, via?: number): Promise<{ master: number; replicas: number[] }> => {
    const live = via ?? ports.find((p) => alive(nodeOf(p).child) && !frozen.has(p));
    const lines = (await cliOn(live!, 'cluster', 'nodes')).trim().split('\n').map((line) => line.split(' '));
    const portOf = (fields: string[]): number => Number(/:(\d+)@/.exec(fields[1]!)![1]);
    const master = lines.find((f) => /master/.test(f[2]!) && !/fail/.test(f[2]!) && f.slice(8).some((r) => {
      const [lo, hi = lo] = r.split('-').map(Number);
      return slot >= lo! && slot <= hi!;
    }));
    if (master === undefined) throw new Error(`no master serves slot ${slot}`);
    return { master: portOf(master), replicas: lines.filter((f) => f[3] === master[0]).map(portOf) };
  };
  const signal = async (port: number, name: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void> => {
    const { child } = nodeOf(port);
    if (!alive(child)) return;
    const exited = name === 'SIGKILL' ? new Promise((resolve) => child.once('exit', resolve)) : undefined;
    if (name === 'SIGSTOP') frozen.add(port);
    else frozen.delete(port);
    child.kill(name);
    await exited;
  };
  const restart = async (port: number): Promise<void> => {
    if (alive(nodeOf(port).child)) throw new Error(`Redis node ${port} is still running`);
    const node = await launch(port, dirs[ports.indexOf(port)]!, nodeTimeoutMs);
    children.push(node.child);
    byPort.set(port, node);
  };
  const logged = (port: number, pattern: RegExp, timeoutMs = 15_000): Promise<string> => {
    const node = nodeOf(port);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = node.log.split('\n').find((l) => pattern.test(l));
        if (line === undefined) return;
        node.listeners.delete(check);
        clearTimeout(limit);
        resolve(line);
      };
      const limit = setTimeout(() => (node.listeners.delete(check), reject(new Error(`Redis node ${port} logged no ${pattern} within ${timeoutMs} ms:\n${node.log.slice(-4096)}`))), timeoutMs);
      node.listeners.add(check);
      check();
    });
  };
  const synced = (master: number, replica: number, timeoutMs?: number): Promise<string> =>
    logged(master, new RegExp(`Synchronization with replica 127\\.0\\.0\\.1:${replica} succeeded|Partial resynchronization request from 127\\.0\\.0\\.1:${replica} accepted`), timeoutMs);
  return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), cli: cliOn, roles, signal, restart, logged, synced, stop };
}
