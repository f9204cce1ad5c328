import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { now } from '../peers/clock.js';
import { measureHerd, type HerdRound } from './herd.js';
import { measureLatency, type LatencyResult } from './latency.js';
import { parseOptions, usage, type ResumeOptions } from './options.js';
import { formatReport, herdRow, judge, latencyRows, type Report } from './report.js';

/**
 * `npm run bench:resume`: (a) one client's resume after 10 of its 1,000 cards changed, beside a fresh
 * connect + call and a plain-ws floor, and the snapshot case; (b) a herd of clients resuming after the server
 * is killed with -9 and restarted on the same data folder. The server runs in its own process, the clients
 * in load processes.
 */
async function main(): Promise<void> {
  let options: ResumeOptions | 'help';
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
  const started = now();
  const loadAtStart = loadavg()[0]!;
  const key = { kty: 'oct', kid: 'bench', k: randomBytes(32).toString('base64url') };
  const env = { ...process.env, CAPSYNC_BENCH_SECRET: randomBytes(32).toString('hex'), CAPSYNC_BENCH_CAPABILITY_KEY: JSON.stringify(key) };
  const failures: string[] = [];
  const attempt = async <T>(what: string, measure: () => Promise<T>): Promise<T | null> => {
    try {
      return await measure();
    } catch (error) {
      failures.push(`${what} failed: ${(error as Error).message}`);
      log(`${what} FAILED: ${(error as Error).message}`);
      return null;
    }
  };

  const latency: LatencyResult | null = await attempt('latency (a)', () => measureLatency(options, env, log));
  const herd: HerdRound[] | null = options.clients > 0 ? await attempt('herd (b)', () => measureHerd(options, env, log)) : null;
  const latencyPart = latency === null ? null : { rows: latencyRows(latency), result: latency };
  const herdPart = herd === null ? null : { row: herdRow(herd), rounds: herd };
  const checks = judge(latencyPart, herdPart);
  const report: Report = {
    benchmark: 'resume',
    command: 'npm run bench:resume' + (process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''),
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.versions.node, platform: `${process.platform}-${process.arch}`,
      loadAverage1mAtStart: Number(loadAtStart.toFixed(2)), loadAverage1mAtEnd: Number(loadavg()[0]!.toFixed(2)) },
    options,
    latency: latencyPart,
    herd: herdPart,
    checks,
    notes: [...failures, ...notes(options, latency)],
  };
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'resume.json'), JSON.stringify(report, null, 2) + '\n');
  if (failures.length > 0 || checks.some((c) => c.kind === 'check' && !c.met)) process.exitCode = 1;
  process.stdout.write(`\n${formatReport(report)}\n\nWrote ${join(options.out, 'resume.json')} in ${((now() - started) / 1000).toFixed(0)} s.\n`);
}

function notes(options: ResumeOptions, latency: LatencyResult | null): string[] {
  const result = [
    `${cpus().length} CPUs shared by the server, its load processes and whatever else runs on the machine: compare the ratios (paired per round), not the absolute figures.`,
    'In (a) the measured client holds 100 folder capabilities (scope ["rs", folder]), each covering 10 cards; its token function waits while it is away, ' +
      'so its reconnect delay is pinned to 0 there (the herd uses the default backoff). The reload baseline is a fresh connection whose one call returns the 100 capabilities and 1,000 cards.',
    'The snapshot case resumes at a second server in the same process with an in-memory store (another epoch, the same capability keys and cards), then back.',
  ];
  if (latency !== null && latency.afterLivePushes.received !== latency.afterLivePushes.expected) {
    result.push(
      `A client that had live pushes before it went away got ${latency.afterLivePushes.received} states on resume for ${latency.afterLivePushes.expected} changes: ` +
        "pushes carry no seq (LiveObjects.encodePush sends 5 elements, SPEC 7.1 says a push carries its change's seq as a sixth), so the client's seq stays at its last hello or resume answer and every live change it already has is sent again.",
    );
  }
  if (options.clients > 0) {
    result.push(
      `The herd's clients run in ${options.loadProcesses} load process${options.loadProcesses === 1 ? '' : 'es'} on the same CPUs as the server. "backoff-only" simulates the default backoff alone ` +
        '(no server or client cost) with the measured downtime: "backoff share" is its last resume over the measured one.',
    );
  }
  return result;
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

await main();
