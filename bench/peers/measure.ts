import { join } from 'node:path';
import type { CallsResult, ConnectResult, Delivery } from './clients/harness.js';
import { now, sleep } from './clock.js';
import { ChildLink } from './ipc.js';
import type { BenchOptions } from './options.js';
import type { BroadcastTimes, ServerMemory, ServerStats } from './servers/harness.js';
import type { LatencySummary } from './stats.js';
import type { SystemId } from './systems.js';

/** One system's calls benchmark in one round. */
export interface CallsRound {
  readonly system: SystemId;
  readonly round: number;
  /** Server and load generator in one process (CPU figures are then the process's, both together). */
  readonly inProcess?: boolean;
  readonly connections: number;
  readonly calls: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  readonly latencyMs: LatencySummary;
  readonly errors: number;
  readonly firstError: string | null;
  readonly serverCpuSeconds: number;
  /** Server CPU time per completed call, in microseconds. */
  readonly serverCpuMicrosPerCall: number;
  readonly serverPeakRssBytes: number;
  /** CPU seconds the load process used: near the window length means the client side was the limit. */
  readonly loadCpuSeconds: number;
}

/** One update of a fan-out. */
export interface DeliveryRound {
  /** From the server starting the update to the last connection having it, ms. */
  readonly lastDeliveryMs: number;
  /** From the server starting the update to its handing the last message to a socket, ms. */
  readonly serverSendMs: number;
  readonly received: number;
}

/** One system's fan-out benchmark to one connection count in one round. */
export interface FanoutRound {
  readonly system: SystemId;
  readonly round: number;
  readonly connections: number;
  readonly connected: number;
  readonly failedConnections: number;
  readonly firstError: string | null;
  readonly connectSeconds: number;
  readonly baselineRssBytes: number;
  readonly connectedRssBytes: number;
  readonly memoryPerConnectionBytes: number;
  readonly heapPerConnectionBytes: number;
  readonly serverPeakRssBytes: number;
  readonly updates: readonly DeliveryRound[];
}

/** Environment of every child: the JWT secret the capsync server and its clients share, made per run. */
export interface RunContext {
  readonly env: NodeJS.ProcessEnv;
}

/** Connections one load process opens in a fan-out; more processes share the work above this. */
export const CONNECTIONS_PER_LOAD_PROCESS = 2_500;
/** Connections a load process opens at once: the server's listen backlog is 511. */
const CONNECT_CONCURRENCY = 64;
const DELIVERY_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 240_000;

const serverScript = (system: SystemId): URL => new URL(`./servers/${system}.js`, import.meta.url);
const inProcessScript = new URL('./inproc.js', import.meta.url);
const loadScript = (system: SystemId): URL => new URL(`./clients/${system}.js`, import.meta.url);

async function startServer(system: SystemId, options: BenchOptions, context: RunContext): Promise<{ server: ChildLink; url: string }> {
  const server = ChildLink.fork(`${system} server`, serverScript(system), { execArgv: ['--expose-gc', ...profiling(system, 'server', options)], env: context.env });
  try {
    const { port } = await server.ready<{ port: number }>();
    return { server, url: `${system === 'socketio' ? 'http' : 'ws'}://127.0.0.1:${port}` };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** `--cpu-prof` when profiling: each system's servers and load processes write to their own folder. */
function profiling(system: SystemId, kind: 'server' | 'load' | 'inproc', options: BenchOptions): string[] {
  if (options.profile === undefined) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${join(options.profile, system, kind)}`];
}

const forkLoad = (system: SystemId, name: string, options: BenchOptions, context: RunContext): ChildLink =>
  ChildLink.fork(name, loadScript(system), { execArgv: profiling(system, 'load', options), env: context.env });

/** Stops the server before its clients, so the TIME_WAIT sockets land on the server's side, not on client ports. */
async function stopAll(server: ChildLink, loads: readonly ChildLink[]): Promise<void> {
  await server.stop();
  await Promise.all(loads.map((load) => load.stop()));
}

/**
 * Calls per second with `options.connections` connections and one call in flight on each: a closed loop
 * that warms up, then measures for `options.durationSeconds` while the server counts its CPU and RSS.
 */
export async function measureCalls(system: SystemId, round: number, options: BenchOptions, context: RunContext, inProcess = false): Promise<CallsRound> {
  let server: ChildLink;
  let load: ChildLink;
  let url: string;
  if (inProcess) {
    // One process: the same link answers the server's commands and the load's.
    server = load = ChildLink.fork(`${system} server + load`, inProcessScript, { args: [system], execArgv: ['--expose-gc', ...profiling(system, 'inproc', options)], env: context.env });
    const { port } = await server.ready<{ port: number }>();
    url = `${system === 'socketio' ? 'http' : 'ws'}://127.0.0.1:${port}`;
  } else {
    ({ server, url } = await startServer(system, options, context));
    load = forkLoad(system, `${system} load`, options, context);
  }
  try {
    await load.ready();
    const connected = await load.request<ConnectResult>(
      'connect',
      { url, count: options.connections, firstIndex: 0, mode: 'calls', concurrency: CONNECT_CONCURRENCY },
      CONNECT_TIMEOUT_MS,
    );
    if (connected.failed > 0) throw new Error(`${connected.failed} connections failed: ${connected.firstError}`);
    await load.request('start');
    await sleep(options.warmupSeconds * 1000);
    await Promise.all([server.request('mark'), load.request('record')]);
    await sleep(options.durationSeconds * 1000);
    const [result, stats] = await Promise.all([load.request<CallsResult>('stop'), server.request<ServerStats>('stats')]);
    return {
      system,
      round,
      ...(inProcess ? { inProcess } : {}),
      connections: options.connections,
      calls: result.calls,
      seconds: result.seconds,
      callsPerSecond: result.calls / result.seconds,
      latencyMs: result.latencyMs,
      errors: result.errors,
      firstError: result.firstError,
      serverCpuSeconds: stats.cpuSeconds,
      serverCpuMicrosPerCall: result.calls > 0 ? (stats.cpuSeconds * 1e6) / result.calls : Number.NaN,
      serverPeakRssBytes: stats.peakRssBytes,
      loadCpuSeconds: result.loadCpuSeconds,
    };
  } finally {
    await stopAll(server, inProcess ? [] : [load]);
  }
}

/**
 * One update delivered to `connections` connections: connects them all from as many load processes as
 * needed, weighs the server before and after, then times one warm-up and `options.updates` measured
 * updates from the server starting each one to the last connection having it.
 */
export async function measureFanout(system: SystemId, round: number, connections: number, options: BenchOptions, context: RunContext): Promise<FanoutRound> {
  const { server, url } = await startServer(system, options, context);
  const processes = Math.ceil(connections / CONNECTIONS_PER_LOAD_PROCESS);
  const loads = Array.from({ length: processes }, (_, i) => forkLoad(system, `${system} load ${i + 1}/${processes}`, options, context));
  try {
    const baseline = await server.request<ServerMemory>('memory');
    await Promise.all(loads.map((load) => load.ready()));
    const started = now();
    const results = await Promise.all(
      loads.map((load, i) => {
        const firstIndex = Math.floor((connections * i) / processes);
        const count = Math.floor((connections * (i + 1)) / processes) - firstIndex;
        return load.request<ConnectResult>('connect', { url, count, firstIndex, mode: 'fanout', concurrency: CONNECT_CONCURRENCY }, CONNECT_TIMEOUT_MS);
      }),
    );
    const connectSeconds = (now() - started) / 1000;
    const connected = results.reduce((n, r) => n + r.connected, 0);
    const failedConnections = results.reduce((n, r) => n + r.failed, 0);
    await sleep(300);
    const memory = await server.request<ServerMemory>('memory');
    const updates: DeliveryRound[] = [];
    // Update 1 warms up the broadcast path; updates 2.. are measured.
    for (let seq = 1; seq <= options.updates + 1; seq++) {
      const waits = loads.map((load) => load.request<Delivery>('await', { seq, timeoutMs: DELIVERY_TIMEOUT_MS }, DELIVERY_TIMEOUT_MS + 10_000));
      const times = await server.request<BroadcastTimes>('broadcast', { seq }, DELIVERY_TIMEOUT_MS);
      const delivered = await Promise.all(waits);
      const received = delivered.reduce((n, d) => n + d.received, 0);
      const lastAt = Math.max(...delivered.map((d) => d.lastAt));
      if (seq > 1) updates.push({ lastDeliveryMs: received > 0 ? lastAt - times.startedAt : Number.NaN, serverSendMs: times.sentAt - times.startedAt, received });
      await sleep(100);
    }
    const stats = await server.request<ServerStats>('stats');
    return {
      system,
      round,
      connections,
      connected,
      failedConnections,
      firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
      connectSeconds,
      baselineRssBytes: baseline.rssBytes,
      connectedRssBytes: memory.rssBytes,
      memoryPerConnectionBytes: connected > 0 ? (memory.rssBytes - baseline.rssBytes) / connected : Number.NaN,
      heapPerConnectionBytes: connected > 0 ? (memory.heapUsedBytes - baseline.heapUsedBytes) / connected : Number.NaN,
      serverPeakRssBytes: stats.peakRssBytes,
      updates,
    };
  } finally {
    await stopAll(server, loads);
  }
}
