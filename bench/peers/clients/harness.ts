import { performance } from 'node:perf_hooks';
import { now, sleep } from '../clock.js';
import { announceReady, serveRequests, takeServer } from '../ipc.js';
import { Samples, type LatencySummary } from '../stats.js';

/** One connection of a load process, as each system's client library makes it. */
export interface BenchClient {
  /** Whatever a connection does once before its first call (capsync: fetch its capability). */
  prepareCalls(): Promise<void>;
  /** One call with the shared payload; settles with the server's answer. */
  call(): PromiseLike<unknown>;
  /** Starts receiving updates; resolves once the server will deliver them to this connection. */
  subscribe(onUpdate: (seq: number) => void): Promise<void>;
  close(): void;
}

/** Opens connection number `index` to `url`. */
export type ConnectClient = (url: string, index: number) => Promise<BenchClient>;

/** What a `connect` request asks for. */
export interface ConnectRequest {
  readonly url: string;
  readonly count: number;
  readonly firstIndex: number;
  readonly mode: 'calls' | 'fanout';
  /** Connections opened at once; more would overflow the server's listen backlog. */
  readonly concurrency: number;
}

export interface ConnectResult {
  readonly connected: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly seconds: number;
}

/** The calls a load process completed between `record` and `stop`. */
export interface CallsResult {
  readonly calls: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly latencyMs: LatencySummary;
  readonly loadCpuSeconds: number;
}

/** How many connections of this process had update `seq`, and when the last of them got it. */
export interface Delivery {
  readonly received: number;
  readonly lastAt: number;
}

interface Seen {
  count: number;
  lastAt: number;
  done?: () => void;
}

/**
 * Runs a load process for one system: opens connections, runs one call in flight per connection
 * (closed loop), records latencies between `record` and `stop`, and timestamps every update received.
 */
export function runLoad(connectClient: ConnectClient): void {
  const clients: BenchClient[] = [];
  const samples = new Samples();
  const seen = new Map<number, Seen>();
  let loops: Promise<void>[] = [];
  let running = false;
  let recording = false;
  let recordAt = 0;
  let cpuAtRecord = process.cpuUsage();
  let calls = 0;
  let errors = 0;
  let firstError: string | null = null;

  const onUpdate = (seq: number): void => {
    const at = now();
    let entry = seen.get(seq);
    if (entry === undefined) seen.set(seq, (entry = { count: 0, lastAt: 0 }));
    entry.count++;
    entry.lastAt = at;
    if (entry.count >= clients.length) entry.done?.();
  };

  const loop = async (client: BenchClient): Promise<void> => {
    while (running) {
      const start = performance.now();
      try {
        await client.call();
      } catch (error) {
        // A failed call ends this connection's loop: a benchmark that errors measures nothing.
        if (recording) errors++;
        firstError ??= describe(error);
        return;
      }
      if (recording) {
        samples.add(performance.now() - start);
        calls++;
      }
    }
  };

  const server = takeServer();
  serveRequests({
    ...server?.handlers,
    connect: async (request: ConnectRequest): Promise<ConnectResult> => {
      const started = now();
      let next = 0;
      let failed = 0;
      let connectError: string | null = null;
      const worker = async (): Promise<void> => {
        while (next < request.count) {
          const index = next++;
          try {
            const client = await connectClient(request.url, request.firstIndex + index);
            try {
              if (request.mode === 'calls') await client.prepareCalls();
              else await client.subscribe(onUpdate);
            } catch (error) {
              client.close();
              throw error;
            }
            clients.push(client);
          } catch (error) {
            failed++;
            connectError ??= describe(error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(request.concurrency, request.count) }, worker));
      return { connected: clients.length, failed, firstError: connectError, seconds: (now() - started) / 1000 };
    },
    start: (): null => {
      running = true;
      loops = clients.map(loop);
      return null;
    },
    record: (): null => {
      samples.clear();
      calls = 0;
      errors = 0;
      recording = true;
      recordAt = performance.now();
      cpuAtRecord = process.cpuUsage();
      return null;
    },
    stop: async (): Promise<CallsResult> => {
      const seconds = (performance.now() - recordAt) / 1000;
      const cpu = process.cpuUsage(cpuAtRecord);
      recording = false;
      running = false;
      await Promise.race([Promise.all(loops), sleep(5_000)]);
      return { calls, errors, firstError, seconds, latencyMs: samples.summary(), loadCpuSeconds: (cpu.user + cpu.system) / 1e6 };
    },
    await: async ({ seq, timeoutMs }: { seq: number; timeoutMs: number }): Promise<Delivery> => {
      let entry = seen.get(seq);
      if (entry === undefined) seen.set(seq, (entry = { count: 0, lastAt: 0 }));
      if (entry.count < clients.length) {
        const waiting = entry;
        await Promise.race([new Promise<void>((resolve) => (waiting.done = resolve)), sleep(timeoutMs)]);
      }
      return { received: entry.count, lastAt: entry.lastAt };
    },
  });
  announceReady(server?.ready ?? null);
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${(error as { code?: string }).code ?? error.name}: ${error.message}`;
  return String(error);
}
