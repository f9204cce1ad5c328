import { now } from '../clock.js';
import { announceReady, holdServer, inProcess, serveRequests, type Handlers } from '../ipc.js';

/** What each system's server gives the harness. */
export interface BenchServer {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Open connections as the server sees them. */
  connections(): number;
  /** Sends update number `seq` to every connection (each system's own fan-out). */
  broadcast(seq: number): void | Promise<void>;
}

/** Server resources over the window since the last `mark`. */
export interface ServerStats {
  readonly cpuSeconds: number;
  readonly elapsedSeconds: number;
  readonly peakRssBytes: number;
}

/** Server memory after a full garbage collection (when the process runs with `--expose-gc`). */
export interface ServerMemory {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

/** When a broadcast started and when the server had handed the last message to its sockets. */
export interface BroadcastTimes {
  readonly startedAt: number;
  readonly sentAt: number;
}

const SAMPLE_MS = 100;

/**
 * Runs a system's server in this (forked) process and answers the runner: `mark` starts a measuring window,
 * `stats` reports CPU seconds and peak RSS since then, `memory` collects garbage and reports RSS,
 * `broadcast` triggers one fan-out, `connections` counts open connections.
 */
export async function runServer(start: () => Promise<BenchServer>): Promise<void> {
  const server = await start();
  let cpuAtMark = process.cpuUsage();
  let markedAt = now();
  let peakRss = process.memoryUsage.rss();
  // RSS sampled in the server itself: the runner's view of a child's memory would need /proc and be Linux-only.
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }, SAMPLE_MS);
  sampler.unref();
  const gc = (globalThis as { gc?: () => void }).gc;

  const handlers: Handlers = {
    mark: (): null => {
      cpuAtMark = process.cpuUsage();
      markedAt = now();
      peakRss = process.memoryUsage.rss();
      return null;
    },
    stats: (): ServerStats => {
      const cpu = process.cpuUsage(cpuAtMark);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      return { cpuSeconds: (cpu.user + cpu.system) / 1e6, elapsedSeconds: (now() - markedAt) / 1000, peakRssBytes: peakRss };
    },
    memory: (): ServerMemory => {
      gc?.();
      gc?.();
      const usage = process.memoryUsage();
      return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
    },
    connections: (): number => server.connections(),
    broadcast: async ({ seq }: { seq: number }): Promise<BroadcastTimes> => {
      const startedAt = now();
      await server.broadcast(seq);
      return { startedAt, sentAt: now() };
    },
  };
  if (inProcess) return holdServer(handlers, { port: server.port });
  serveRequests(handlers);
  announceReady({ port: server.port });
}

/** Heartbeats every system keeps: long, so that 10,000 idle connections cost no pings during a run. */
export const HEARTBEAT_MS = 600_000;
