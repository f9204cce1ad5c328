import type { CallsRound, FanoutRound } from './measure.js';
import type { BenchOptions } from './options.js';
import { median } from './stats.js';
import { labelOf, type SystemId } from './systems.js';

/** A system's calls figures: medians over the rounds. Ratios are medians of per-round ratios against that round's floor. */
export interface CallsRow {
  readonly system: SystemId;
  readonly label: string;
  readonly connections: number;
  readonly rounds: number;
  readonly callsPerSecond: number;
  /** calls/s over the floor's calls/s (higher is better). */
  readonly ratio: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** p99 over the floor's p99 (lower is better). */
  readonly p99Ratio: number;
  readonly serverCpuSeconds: number;
  readonly serverCpuMicrosPerCall: number;
  /** Server CPU per call over the floor's (lower is better). */
  readonly cpuRatio: number;
  /** CPU time of the load process per call, in microseconds: the client library's cost. */
  readonly clientCpuMicrosPerCall: number;
  /**
   * Server plus client CPU per call over the floor's (lower is better). Its inverse is the calls/s ratio
   * the system would reach if it had the CPUs to itself: unlike calls/s, it does not move with the CPU
   * time other tenants of a shared machine take during a round.
   */
  readonly totalCpuRatio: number;
  readonly serverPeakRssMb: number;
  readonly loadCpuSeconds: number;
  readonly errors: number;
}

/** A system's fan-out figures at one connection count: medians over rounds (and over updates within a round). */
export interface FanoutRow {
  readonly system: SystemId;
  readonly label: string;
  readonly connections: number;
  readonly rounds: number;
  /** Fewest connections that had an update, over every measured update. */
  readonly minReceived: number;
  readonly lastDeliveryMs: number;
  /** Delivery time over the floor's (lower is better). */
  readonly ratio: number;
  readonly serverSendMs: number;
  readonly memoryPerConnectionKb: number;
  /** Memory per connection over the floor's (lower is better). */
  readonly memoryRatio: number;
  readonly heapPerConnectionKb: number;
  readonly serverPeakRssMb: number;
  readonly connectSeconds: number;
  readonly failedConnections: number;
}

/** A target of issue 6, judged from this run. `met` is null when a system it needs was not run. */
export interface Target {
  readonly target: string;
  readonly met: boolean | null;
  readonly detail: string;
}

/** Everything written to peers.json. */
export interface Report {
  readonly benchmark: 'peers';
  readonly command: string;
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly memoryGb: number; readonly node: string; readonly platform: string };
  readonly versions: Readonly<Record<string, string>>;
  readonly options: Omit<BenchOptions, 'out' | 'profile' | 'baseline'>;
  readonly calls: readonly CallsRow[];
  /** The calls benchmark with server and load in one process: CPU per call is the process's (both). */
  readonly callsInProcess: readonly CallsRow[];
  readonly fanout: readonly FanoutRow[];
  readonly targets: readonly Target[];
  readonly notes: readonly string[];
  readonly rounds: { readonly calls: readonly CallsRound[]; readonly callsInProcess: readonly CallsRound[]; readonly fanout: readonly FanoutRound[] };
}

const MB = 1024 * 1024;

/** Per-round ratio `value / floor` for the rounds where both ran, then the median. */
function pairedRatio<R extends { system: SystemId; round: number }>(rounds: readonly R[], system: SystemId, value: (r: R) => number, match: (a: R, b: R) => boolean = () => true): number {
  const ratios: number[] = [];
  for (const r of rounds) {
    if (r.system !== system) continue;
    const floor = rounds.find((f) => f.system === 'floor' && f.round === r.round && match(f, r));
    if (floor !== undefined) ratios.push(value(r) / value(floor));
  }
  return median(ratios);
}

const clientMicros = (r: CallsRound): number => (r.calls > 0 ? (r.loadCpuSeconds * 1e6) / r.calls : Number.NaN);

/** One row per system from the calls rounds. */
export function callsRows(rounds: readonly CallsRound[], systems: readonly SystemId[]): CallsRow[] {
  return systems.flatMap((system) => {
    const mine = rounds.filter((r) => r.system === system);
    if (mine.length === 0) return [];
    const m = (f: (r: CallsRound) => number): number => median(mine.map(f));
    return [{
      system,
      label: labelOf(system),
      connections: mine[0]!.connections,
      rounds: mine.length,
      callsPerSecond: m((r) => r.callsPerSecond),
      ratio: pairedRatio(rounds, system, (r) => r.callsPerSecond),
      p50Ms: m((r) => r.latencyMs.p50),
      p99Ms: m((r) => r.latencyMs.p99),
      maxMs: m((r) => r.latencyMs.max),
      p99Ratio: pairedRatio(rounds, system, (r) => r.latencyMs.p99),
      serverCpuSeconds: m((r) => r.serverCpuSeconds),
      serverCpuMicrosPerCall: m((r) => r.serverCpuMicrosPerCall),
      cpuRatio: pairedRatio(rounds, system, (r) => r.serverCpuMicrosPerCall),
      clientCpuMicrosPerCall: m(clientMicros),
      totalCpuRatio: pairedRatio(rounds, system, (r) => r.serverCpuMicrosPerCall + clientMicros(r)),
      serverPeakRssMb: m((r) => r.serverPeakRssBytes / MB),
      loadCpuSeconds: m((r) => r.loadCpuSeconds),
      errors: mine.reduce((n, r) => n + r.errors, 0),
    }];
  });
}

const roundDelivery = (r: FanoutRound): number => median(r.updates.map((u) => u.lastDeliveryMs));

/** One row per system and connection count from the fan-out rounds. */
export function fanoutRows(rounds: readonly FanoutRound[], systems: readonly SystemId[], sizes: readonly number[]): FanoutRow[] {
  return sizes.flatMap((connections) =>
    systems.flatMap((system) => {
      const mine = rounds.filter((r) => r.system === system && r.connections === connections);
      if (mine.length === 0) return [];
      const m = (f: (r: FanoutRound) => number): number => median(mine.map(f));
      const sameSize = (a: FanoutRound, b: FanoutRound): boolean => a.connections === b.connections;
      const atSize = rounds.filter((r) => r.connections === connections);
      return [{
        system,
        label: labelOf(system),
        connections,
        rounds: mine.length,
        minReceived: Math.min(...mine.flatMap((r) => r.updates.map((u) => u.received))),
        lastDeliveryMs: m(roundDelivery),
        ratio: pairedRatio(atSize, system, roundDelivery, sameSize),
        serverSendMs: m((r) => median(r.updates.map((u) => u.serverSendMs))),
        memoryPerConnectionKb: m((r) => r.memoryPerConnectionBytes / 1024),
        memoryRatio: pairedRatio(atSize, system, (r) => r.memoryPerConnectionBytes, sameSize),
        heapPerConnectionKb: m((r) => r.heapPerConnectionBytes / 1024),
        serverPeakRssMb: m((r) => r.serverPeakRssBytes / MB),
        connectSeconds: m((r) => r.connectSeconds),
        failedConnections: mine.reduce((n, r) => n + r.failedConnections, 0),
      }];
    }),
  );
}

/** The call targets of issue 15 for one form of the calls benchmark: throughput and p99 against the floor. */
function nearFloor(rows: readonly CallsRow[], form: string): Target[] {
  const capsync = rows.find((r) => r.system === 'capsync');
  const floor = rows.find((r) => r.system === 'floor');
  if (capsync === undefined || floor === undefined) return [];
  return [
    { target: `capsync calls/s >= 0.9x the raw floor (${form})`, met: capsync.ratio >= 0.9, detail: `${fmt(capsync.ratio, 2)}x` },
    {
      target: `capsync p99 <= the floor's + 0.5 ms (${form})`,
      met: capsync.p99Ms <= floor.p99Ms + 0.5,
      detail: `capsync ${fmt(capsync.p99Ms, 2)} ms, floor ${fmt(floor.p99Ms, 2)} ms`,
    },
  ];
}

/** Judges the targets of issues 6 and 15. */
export function judgeTargets(calls: readonly CallsRow[], fanout: readonly FanoutRow[], callsInProcess: readonly CallsRow[] = []): Target[] {
  const call = (s: SystemId) => calls.find((r) => r.system === s);
  const targets: Target[] = [...nearFloor(calls, 'a process each'), ...nearFloor(callsInProcess, 'server and load in one process')];
  const capsync = call('capsync');
  targets.push({
    target: 'capsync calls/s >= 0.85x the raw floor',
    met: capsync ? capsync.ratio >= 0.85 : null,
    detail: capsync ? `${fmt(capsync.ratio, 2)}x` : 'capsync not run',
  });
  const peers = [call('socketio'), call('capnweb')].filter((r): r is CallsRow => r !== undefined);
  targets.push({
    target: "capsync p99 latency no worse than Socket.IO's and Cap'n Web's",
    met: capsync && peers.length === 2 ? peers.every((p) => capsync.p99Ms <= p.p99Ms) : null,
    detail: capsync ? [capsync, ...peers].map((r) => `${r.label} ${fmt(r.p99Ms, 2)} ms`).join(', ') : 'capsync not run',
  });
  const largest = Math.max(0, ...fanout.map((r) => r.connections));
  const fan = (s: SystemId) => fanout.find((r) => r.system === s && r.connections === largest);
  const [cf, sf] = [fan('capsync'), fan('socketio')];
  targets.push({
    target: `capsync fan-out to ${largest.toLocaleString('en-US')} connections no slower than Socket.IO`,
    met: cf && sf ? cf.lastDeliveryMs <= sf.lastDeliveryMs && cf.minReceived === largest : null,
    detail: cf && sf ? `capsync ${fmt(cf.lastDeliveryMs, 1)} ms, Socket.IO ${fmt(sf.lastDeliveryMs, 1)} ms` : 'not run',
  });
  targets.push({
    target: 'capsync server memory per connection below Socket.IO',
    met: cf && sf ? cf.memoryPerConnectionKb < sf.memoryPerConnectionKb : null,
    detail: cf && sf ? `capsync ${fmt(cf.memoryPerConnectionKb, 1)} KB, Socket.IO ${fmt(sf.memoryPerConnectionKb, 1)} KB` : 'not run',
  });
  return targets;
}

/** A number with `digits` decimals and thousands separators; a dash when it is not finite. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The terminal report: both tables and the targets. */
export function formatReport(report: Report): string {
  const o = report.options;
  const parts: string[] = [];
  parts.push(`Every capsync connection holds ${o.holdings} capabilities (minted for it and sent) before it calls or subscribes.`);
  parts.push(
    `Calls: ${o.connections} connections, one call in flight each, ${o.durationSeconds} s after ${o.warmupSeconds} s warm-up; ` +
      `median of ${o.rounds} interleaved round${o.rounds === 1 ? '' : 's'} (x floor: median of per-round ratios)`,
  );
  parts.push(
    table(
      ['system', 'calls/s', 'x floor', 'p50 ms', 'p99 ms', 'max ms', 'p99 x floor', 'server CPU s', 'server us/call', 'client us/call', 'CPU/call x floor', 'peak RSS MB'],
      report.calls.map((r) => [
        r.label, fmt(r.callsPerSecond), fmt(r.ratio, 2), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.maxMs, 1), fmt(r.p99Ratio, 2),
        fmt(r.serverCpuSeconds, 2), fmt(r.serverCpuMicrosPerCall, 1), fmt(r.clientCpuMicrosPerCall, 1), fmt(r.totalCpuRatio, 2), fmt(r.serverPeakRssMb, 0),
      ]),
    ),
  );
  if (report.callsInProcess.length > 0) {
    parts.push('');
    parts.push(`Calls with each server and its load generator in one process: median of ${o.inProcessRounds} interleaved round${o.inProcessRounds === 1 ? '' : 's'}; CPU is the process's (server and client together)`);
    parts.push(
      table(
        ['system', 'calls/s', 'x floor', 'p50 ms', 'p99 ms', 'p99 x floor', 'CPU us/call', 'CPU/call x floor', 'peak RSS MB'],
        report.callsInProcess.map((r) => [
          r.label, fmt(r.callsPerSecond), fmt(r.ratio, 2), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.p99Ratio, 2), fmt(r.serverCpuMicrosPerCall, 1), fmt(r.cpuRatio, 2), fmt(r.serverPeakRssMb, 0),
        ]),
      ),
    );
  }
  if (report.fanout.length > 0) {
    parts.push('');
    parts.push(`Fan-out: one update to every connection, ms from the server starting it to the last connection having it; median of ${o.fanoutRounds} round${o.fanoutRounds === 1 ? '' : 's'} x ${o.updates} updates`);
    parts.push(
      table(
        ['system', 'connections', 'received', 'last ms', 'x floor', 'server send ms', 'memory/conn KB', 'x floor', 'heap/conn KB', 'peak RSS MB', 'connect s'],
        report.fanout.map((r) => [
          r.label, fmt(r.connections), fmt(r.minReceived), fmt(r.lastDeliveryMs, 1), fmt(r.ratio, 2), fmt(r.serverSendMs, 1),
          fmt(r.memoryPerConnectionKb, 1), fmt(r.memoryRatio, 2), fmt(r.heapPerConnectionKb, 1), fmt(r.serverPeakRssMb, 0), fmt(r.connectSeconds, 1),
        ]),
      ),
    );
  }
  parts.push('');
  parts.push('Targets (issues 6 and 15):');
  for (const t of report.targets) parts.push(`  [${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}] ${t.target}: ${t.detail}`);
  for (const note of report.notes) parts.push(`Note: ${note}`);
  return parts.join('\n');
}
