import { fmt } from '../peers/report.js';
import { median } from '../peers/stats.js';
import type { HerdRound } from './herd.js';
import { kinds, type Kind, type LatencyResult } from './latency.js';
import type { ResumeOptions } from './options.js';

/** Part (a), one row per kind: medians over rounds of each round's p50 and p99 (ms), and paired ratios. */
export interface LatencyRow {
  readonly kind: Kind;
  readonly label: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly dialP50Ms: number;
  readonly dialP99Ms: number;
  /** Median over rounds of this kind's p50 (and p99) over the reload's in the same round: below 1 is faster. */
  readonly p50xReload: number;
  readonly p99xReload: number;
  /** The same over the plain-ws floor with this kind's frame sizes (the floors themselves: 1). */
  readonly p50xFloor: number;
}

/** Part (b): medians over the herd rounds. */
export interface HerdRow {
  readonly clients: number;
  readonly rounds: number;
  readonly resumedEveryRound: boolean;
  readonly gaveUp: number;
  readonly mismatched: number;
  readonly exactStates: boolean;
  readonly downtimeMs: number;
  readonly lastResumeSeconds: number;
  readonly p50ResumeSeconds: number;
  readonly p99ResumeSeconds: number;
  /** The backoff model's p50, p99 and last resume (s after the kill): the waits alone, with this round's downtime. */
  readonly modelP50Seconds: number;
  readonly modelP99Seconds: number;
  readonly modelLastSeconds: number;
  readonly backoffShare: number;
  readonly serverCores: number;
  readonly serverPeak1sCores: number;
  readonly serverMsPerResume: number;
  readonly serverStartupCpuSeconds: number;
  readonly resumesPerSecondPeak1s: number;
  readonly resumesPerSecondMean: number;
  /** Dials per client until it was back, measured, and as the backoff model predicts. */
  readonly meanDials: number;
  readonly modelMeanDials: number;
}

/** A check of this run: a correctness check (`check`) or a timing target (`target`). */
export interface Check {
  readonly kind: 'check' | 'target';
  readonly what: string;
  readonly met: boolean;
  readonly detail: string;
}

/** Everything written to resume.json. */
export interface Report {
  readonly benchmark: 'resume';
  readonly command: string;
  readonly date: string;
  readonly machine: Readonly<Record<string, string | number>>;
  readonly options: ResumeOptions;
  readonly latency: { readonly rows: LatencyRow[]; readonly result: LatencyResult } | null;
  readonly herd: { readonly row: HerdRow; readonly rounds: HerdRound[] } | null;
  readonly checks: Check[];
  readonly notes: string[];
}

const labels: Record<Kind, string> = {
  incremental: 'resume, 10 changed',
  snapshot: 'resume, other epoch (snapshot)',
  reload: 'baseline: connect + hello + call',
  floorIncremental: 'floor: ws, incremental sizes',
  floorSnapshot: 'floor: ws, snapshot sizes',
};
const floorOf: Record<Kind, Kind> = { incremental: 'floorIncremental', snapshot: 'floorSnapshot', reload: 'floorSnapshot', floorIncremental: 'floorIncremental', floorSnapshot: 'floorSnapshot' };

/** Rows of part (a). */
export function latencyRows(result: LatencyResult): LatencyRow[] {
  const r = result.rounds;
  const m = (f: (round: (typeof r)[number]) => number): number => median(r.map(f));
  return kinds.map((kind) => ({
    kind, label: labels[kind],
    p50Ms: m((x) => x.fromOpen[kind].p50), p99Ms: m((x) => x.fromOpen[kind].p99), maxMs: Math.max(...r.map((x) => x.fromOpen[kind].max)),
    dialP50Ms: m((x) => x.fromDial[kind].p50), dialP99Ms: m((x) => x.fromDial[kind].p99),
    p50xReload: m((x) => x.fromOpen[kind].p50 / x.fromOpen.reload.p50), p99xReload: m((x) => x.fromOpen[kind].p99 / x.fromOpen.reload.p99),
    p50xFloor: m((x) => x.fromOpen[kind].p50 / x.fromOpen[floorOf[kind]].p50),
  }));
}

const meanDials = (r: HerdRound): number => {
  const entries = Object.entries(r.dials);
  return entries.reduce((n, [k, v]) => n + Number(k) * v, 0) / Math.max(1, entries.reduce((n, [, v]) => n + v, 0));
};

/** The row of part (b). */
export function herdRow(rounds: readonly HerdRound[]): HerdRow {
  const m = (f: (r: HerdRound) => number): number => median(rounds.map(f));
  return {
    clients: rounds[0]?.clients ?? 0, rounds: rounds.length,
    resumedEveryRound: rounds.every((r) => r.resumed === r.clients), gaveUp: rounds.reduce((n, r) => n + r.gaveUp, 0),
    mismatched: rounds.reduce((n, r) => n + r.mismatched, 0), exactStates: rounds.every((r) => r.exactStates === r.clients),
    downtimeMs: m((r) => r.downtimeMs), lastResumeSeconds: m((r) => r.resumeMs.last / 1000), p50ResumeSeconds: m((r) => r.resumeMs.p50 / 1000),
    p99ResumeSeconds: m((r) => r.resumeMs.p99 / 1000), modelP50Seconds: m((r) => r.model.p50Ms / 1000), modelP99Seconds: m((r) => r.model.p99Ms / 1000), modelLastSeconds: m((r) => r.model.lastMs / 1000), backoffShare: m((r) => r.backoffShare),
    serverCores: m((r) => r.serverCpu.cores), serverPeak1sCores: m((r) => r.serverCpu.peak1sCores), serverMsPerResume: m((r) => r.serverCpu.msPerResume),
    serverStartupCpuSeconds: m((r) => r.serverCpu.startupSeconds), resumesPerSecondPeak1s: m((r) => r.resumesPerSecond.peak1s),
    resumesPerSecondMean: m((r) => r.resumesPerSecond.mean), meanDials: m(meanDials), modelMeanDials: m((r) => r.model.meanDials),
  };
}

/** Correctness checks and the targets, judged from this run. */
export function judge(latency: Report['latency'], herd: Report['herd']): Check[] {
  const checks: Check[] = [];
  if (latency !== null) {
    const { result, rows } = latency;
    const inc = result.incrementalStates;
    checks.push({ kind: 'check', what: `every incremental resume brought exactly ${result.changed} states, all applied`, met: inc.exact === inc.count && inc.applied === inc.count, detail: `${inc.exact}/${inc.count} exact (min ${inc.min}, max ${inc.max}), ${inc.applied} applied` });
    const snap = result.snapshotStates;
    checks.push({ kind: 'check', what: `every snapshot resume brought all ${result.cards} cards`, met: snap.exact === snap.count, detail: `${snap.exact}/${snap.count} (min ${snap.min}, max ${snap.max})` });
    const p99 = rows.find((r) => r.kind === 'incremental')!.p99Ms;
    checks.push({ kind: 'target', what: 'incremental resume p99 under 50 ms (socket open to caught up)', met: p99 < 50, detail: `${fmt(p99, 2)} ms` });
  }
  if (herd !== null) {
    const { row } = herd;
    checks.push({ kind: 'check', what: 'every herd client resumed in every round, none gave up', met: row.resumedEveryRound && row.gaveUp === 0, detail: herd.rounds.map((r) => `${r.resumed}/${r.clients}`).join(', ') + `, ${row.gaveUp} gave up` });
    checks.push({ kind: 'check', what: 'every herd client got exactly its one changed card and has the latest versions', met: row.exactStates && row.mismatched === 0, detail: herd.rounds.map((r) => `${r.exactStates} exact`).join(', ') + `, ${row.mismatched} mismatched` });
    const worst = Math.max(...herd.rounds.map((r) => r.resumeMs.last));
    checks.push({ kind: 'target', what: `all ${fmt(row.clients)} resumed within 30 s of the kill`, met: worst < 30_000 && row.resumedEveryRound, detail: `worst round ${fmt(worst / 1000, 2)} s` });
  }
  return checks;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The terminal report. */
export function formatReport(report: Report): string {
  const parts: string[] = [];
  const o = report.options;
  if (report.latency !== null) {
    const res = report.latency.result;
    parts.push(
      `(a) one client, ${res.capabilities} capabilities (one per folder) over ${res.cards} cards; ${res.changed} of its cards and ${res.noise} of other users' changed while it was away.`,
      `    ms from the socket's open (and from its dial) to caught up; medians over ${o.rounds} rounds of each round's p50/p99 (${o.repetitions} repetitions each, interleaved); ratios paired per round`,
      table(
        ['kind', 'p50', 'p99', 'max', 'dial p50', 'dial p99', 'p50 x reload', 'p99 x reload', 'p50 x floor'],
        report.latency.rows.map((r) => [r.label, fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.maxMs, 1), fmt(r.dialP50Ms, 2), fmt(r.dialP99Ms, 2), fmt(r.p50xReload, 2), fmt(r.p99xReload, 2), fmt(r.p50xFloor, 2)]),
      ),
      `    frames: resume ${res.frameBytes.incremental.sent.join('+')} B sent, ${res.frameBytes.incremental.received.length} frames / ${fmt(res.frameBytes.incremental.received.reduce((a, b) => a + b, 0))} B back; ` +
        `snapshot ${fmt(res.frameBytes.snapshot.received)} B in ${res.frameBytes.snapshot.frames} frames; reload returns ${res.reloadCards} cards`,
      `    CPU per operation (medians; CPU time hardly grows with the machine's load): resume ${fmt(res.cpuMs.incremental.server, 2)} ms server + ${fmt(res.cpuMs.incremental.client, 2)} ms client, ` +
        `reload ${fmt(res.cpuMs.reload.server, 2)} ms server + ${fmt(res.cpuMs.reload.client, 2)} ms client (resume / reload ${fmt((res.cpuMs.incremental.server + res.cpuMs.incremental.client) / (res.cpuMs.reload.server + res.cpuMs.reload.client), 2)})`,
      `    after live pushes, then away with ${res.afterLivePushes.expected} changes: the resume brought ${res.afterLivePushes.received} states`,
      '',
    );
  }
  if (report.herd !== null) {
    const h = report.herd.row;
    parts.push(`(b) herd: ${fmt(h.clients)} clients in ${o.loadProcesses} load process${o.loadProcesses === 1 ? '' : 'es'}, default backoff (full jitter, 0.5 s base); server kill -9 and restart on the same data folder; medians over ${h.rounds} rounds`);
    parts.push(
      table(
        ['round', 'resumed', 'down ms', 'p50 s', 'p99 s', 'last s', 'backoff-only p50/p99/last s', 'backoff share', 'server cores', 'peak 1s', 'server ms/resume', 'resumes/s peak', 'mean', 'dials', 'model dials'],
        [
          ...report.herd.rounds.map((r) => [
            String(r.round), `${fmt(r.resumed)}/${fmt(r.clients)}`, fmt(r.downtimeMs), fmt(r.resumeMs.p50 / 1000, 2), fmt(r.resumeMs.p99 / 1000, 2), fmt(r.resumeMs.last / 1000, 2),
            `${fmt(r.model.p50Ms / 1000, 2)} / ${fmt(r.model.p99Ms / 1000, 2)} / ${fmt(r.model.lastMs / 1000, 2)}`, fmt(r.backoffShare, 2), fmt(r.serverCpu.cores, 2), fmt(r.serverCpu.peak1sCores, 2), fmt(r.serverCpu.msPerResume, 3),
            fmt(r.resumesPerSecond.peak1s), fmt(r.resumesPerSecond.mean), fmt(meanDials(r), 2), fmt(r.model.meanDials, 2),
          ]),
          ['median', h.resumedEveryRound ? 'all' : 'NOT ALL', fmt(h.downtimeMs), fmt(h.p50ResumeSeconds, 2), fmt(h.p99ResumeSeconds, 2), fmt(h.lastResumeSeconds, 2), `${fmt(h.modelP50Seconds, 2)} / ${fmt(h.modelP99Seconds, 2)} / ${fmt(h.modelLastSeconds, 2)}`, fmt(h.backoffShare, 2),
            fmt(h.serverCores, 2), fmt(h.serverPeak1sCores, 2), fmt(h.serverMsPerResume, 3), fmt(h.resumesPerSecondPeak1s), fmt(h.resumesPerSecondMean), fmt(h.meanDials, 2), fmt(h.modelMeanDials, 2)],
        ],
      ),
      `    server startup CPU ${fmt(h.serverStartupCpuSeconds, 2)} s; at ${fmt(h.serverMsPerResume, 3)} ms of server CPU per resume one core would sustain about ${fmt(1000 / h.serverMsPerResume)} resumes/s`,
      '',
    );
  }
  parts.push(`Machine: ${report.machine['cpus']} CPUs, load average ${report.machine['loadAverage1mAtStart']} at the start and ${report.machine['loadAverage1mAtEnd']} at the end (1 min).`);
  parts.push('Checks and targets:');
  for (const c of report.checks) parts.push(`  [${c.met ? 'ok  ' : c.kind === 'check' ? 'FAIL' : 'MISS'}] ${c.what}: ${c.detail}`);
  for (const note of report.notes) parts.push(`Note: ${note}`);
  return parts.join('\n');
}
