import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { renderChart } from './chart.js';
import { now } from './clock.js';
import { measureCalls, measureFanout, type CallsRound, type FanoutRound, type RunContext } from './measure.js';
import { parseOptions, usage, type BenchOptions } from './options.js';
import { callsRows, fanoutRows, fmt, formatReport, judgeTargets, type Report } from './report.js';
import { callsOnly, labelOf } from './systems.js';

/**
 * `npm run bench:peers`: capsync against raw ws + msgpackr, Socket.IO 4 and Cap'n Web. Every server runs in
 * its own process, driven by separate load processes, one system at a time, in interleaved rounds.
 */
async function main(): Promise<void> {
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(usage);
    return;
  }
  warnAboutFileLimit(options);
  if (options.profile !== undefined) mkdirSync(options.profile, { recursive: true });
  const context: RunContext = {
    env: {
      ...process.env,
      CAPSYNC_BENCH_SECRET: randomBytes(32).toString('hex'),
      CAPSYNC_BENCH_HOLDINGS: String(options.holdings),
      ...(options.baseline !== undefined ? { CAPSYNC_BENCH_BASELINE: resolve(options.baseline) } : {}),
    },
  };
  const started = now();

  const failures: string[] = [];
  const attempt = async <T>(what: string, measure: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await measure();
    } catch (error) {
      failures.push(`${what} failed: ${(error as Error).message}`);
      log(`${what} FAILED: ${(error as Error).message}`);
      return undefined;
    }
  };

  const calls: CallsRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const system of options.systems) {
      const r = await attempt(`calls round ${round} ${labelOf(system)}`, () => measureCalls(system, round, options, context));
      if (r === undefined) continue;
      calls.push(r);
      log(`calls   round ${round}/${options.rounds}  ${labelOf(system).padEnd(18)} ${fmt(r.callsPerSecond).padStart(8)} calls/s  p99 ${fmt(r.latencyMs.p99, 2)} ms` + (r.errors > 0 ? `  ${r.errors} errors (${r.firstError})` : ''));
    }
  }

  // The same calls with each system's server and load generator in one process, as many users' load tests run.
  const inProcess: CallsRound[] = [];
  for (let round = 1; round <= options.inProcessRounds; round++) {
    for (const system of options.systems) {
      const r = await attempt(`in-process calls round ${round} ${labelOf(system)}`, () => measureCalls(system, round, options, context, true));
      if (r === undefined) continue;
      inProcess.push(r);
      log(`calls, one process, round ${round}/${options.inProcessRounds}  ${labelOf(system).padEnd(18)} ${fmt(r.callsPerSecond).padStart(8)} calls/s  p99 ${fmt(r.latencyMs.p99, 2)} ms` + (r.errors > 0 ? `  ${r.errors} errors (${r.firstError})` : ''));
    }
  }

  const fanout: FanoutRound[] = [];
  for (const size of options.fanout) {
    for (let round = 1; round <= options.fanoutRounds; round++) {
      for (const system of options.systems) {
        if (callsOnly.has(system)) continue;
        const r = await attempt(`fan-out round ${round} ${labelOf(system)} to ${size}`, () => measureFanout(system, round, size, options, context));
        if (r === undefined) continue;
        fanout.push(r);
        const ms = r.updates.map((u) => u.lastDeliveryMs);
        log(
          `fan-out round ${round}/${options.fanoutRounds}  ${labelOf(system).padEnd(18)} ${fmt(size).padStart(6)} connections  ` +
            `last delivery ${ms.map((m) => fmt(m, 1)).join(' / ')} ms  ${fmt(r.memoryPerConnectionBytes / 1024, 1)} KB/conn  connect ${fmt(r.connectSeconds, 1)} s` +
            (r.failedConnections > 0 ? `  ${r.failedConnections} failed (${r.firstError})` : ''),
        );
      }
    }
  }

  const callRows = callsRows(calls, options.systems);
  const fanRows = fanoutRows(fanout, options.systems, options.fanout);
  const inProcessRows = callsRows(inProcess, options.systems);
  const report: Report = {
    benchmark: 'peers',
    command: 'npm run bench:peers' + (process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''),
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    },
    versions: versions(['ws', 'msgpackr', 'socket.io', 'socket.io-client', 'capnweb']),
    options: {
      rounds: options.rounds,
      inProcessRounds: options.inProcessRounds,
      holdings: options.holdings,
      fanoutRounds: options.fanoutRounds,
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      fanout: options.fanout,
      updates: options.updates,
      systems: options.systems,
    },
    calls: callRows,
    callsInProcess: inProcessRows,
    fanout: fanRows,
    targets: judgeTargets(callRows, fanRows, inProcessRows),
    notes: [...failures, ...notes(fanout, options)],
    rounds: { calls, callsInProcess: inProcess, fanout },
  };

  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'peers.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(out, 'peers.svg'), await renderChart(report));
  // A measurement that failed leaves its system out of the figures: the run says so and fails.
  if (failures.length > 0) process.exitCode = 1;
  process.stdout.write(`\n${formatReport(report)}\n\nWrote ${join(options.out, 'peers.json')} and ${join(options.out, 'peers.svg')} in ${fmt((now() - started) / 1000, 0)} s.\n`);
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

function notes(fanout: readonly FanoutRound[], options: BenchOptions): string[] {
  const result = [
    `${cpus().length} CPUs, shared by the server and its load processes (and by whatever else runs on the machine): calls/s moves with the CPU ` +
      'time each process gets in its round. "CPU/call x floor" (server plus client CPU per call, against the floor) does not; its inverse is ' +
      'the calls/s ratio a system reaches when the CPUs are all its own.',
  ];
  for (const r of fanout) {
    if (r.failedConnections > 0) result.push(`${labelOf(r.system)} fan-out to ${r.connections} in round ${r.round}: ${r.failedConnections} connections failed (${r.firstError}).`);
    const short = r.updates.filter((u) => u.received < r.connected);
    if (short.length > 0) result.push(`${labelOf(r.system)} fan-out to ${r.connections} in round ${r.round}: ${short.length} of ${options.updates} updates did not reach every connection within 30 s.`);
  }
  return result;
}

function versions(names: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  for (const name of names) {
    try {
      found[name] = (JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      found[name] = 'unknown';
    }
  }
  return found;
}

/** Each fan-out connection is a file descriptor in the server; say so up front rather than fail at connection 1,020. */
function warnAboutFileLimit(options: BenchOptions): void {
  const largest = Math.max(0, ...options.fanout);
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return;
  }
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  if (Number.isFinite(soft) && soft < largest + 256) {
    log(`warning: the open-file limit is ${soft}; fan-out to ${largest} needs more (run \`ulimit -n ${largest + 1024}\` first, or pass --fanout).`);
  }
}

await main();
