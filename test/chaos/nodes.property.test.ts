import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { delegationViolations } from './nodes-invariants.js';
import { NodesRun, nodeStepsArb, refusedCodes, type NodeStep } from './nodes-run.js';
import { converge, violations } from './session-invariants.js';
import { useServerProcesses } from './server-process.js';

/**
 * `npm test` runs a few sequences; `npm run chaos` (CHAOS_NODES_RUNS=n, default 30 there) many more.
 * CHAOS_SEED replays a failure.
 */
const runs = Number(process.env['CHAOS_NODES_RUNS'] ?? 5);
/** The seed is always chosen here (CHAOS_SEED replays one), so a failure report can name it. */
const seed = process.env['CHAOS_SEED'] === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env['CHAOS_SEED']);
/** CHAOS_PATH (with CHAOS_SEED) replays one run of a sequence: the index a failure report names. */
const path = process.env['CHAOS_PATH'];
/** A run of up to 10 steps takes a few seconds; this bounds one that hangs. */
const RUN_LIMIT_MS = 90_000;

const processes = useServerProcesses();
/** Unhandled rejections in this process during a run (vitest would report them too, after the fact). */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
afterEach(() => void process.removeListener('unhandledRejection', onUnhandled));

/** `promise`, or a failure naming `what` if it has not settled within {@link RUN_LIMIT_MS} (a bound on a hang). */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`run hung in ${what}`)), RUN_LIMIT_MS);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A failed run, written out at once (a file in the temp folder, and stderr) before anything else can hang
 * or truncate it: the replay command, the steps, which invariant broke, each node's log tail.
 */
function report(index: number, steps: readonly NodeStep[], run: NodesRun | undefined, phase: string, problems: readonly string[]): string {
  const lines = [
    `nodes chaos property failed: run ${index} (seed ${seed}), in ${phase}`,
    `replay: CHAOS_SEED=${seed} CHAOS_PATH=${index} CHAOS_NODES_RUNS=${index + 1} npx vitest run test/chaos/nodes.property.test.ts`,
    `steps drawn: ${JSON.stringify(steps)}`,
    `steps applied: ${run === undefined ? 'none (start failed)' : run.applied.length}`,
    'invariants broken:',
    ...problems.map((p) => `  - ${p}`),
  ];
  run?.nodes.forEach((n, i) => lines.push(`--- node ${i} (port ${n.port}, ${n.running ? 'running' : 'exited'}) log tail:`, n.log.slice(-4000)));
  const text = lines.join('\n');
  const file = join(tmpdir(), `capsync-nodes-chaos-${seed}-${index}.txt`);
  writeFileSync(file, text);
  process.stderr.write(`${text}\n(written to ${file})\n`);
  return file;
}

/** Totals over the runs, printed at the end (what the README quotes for a long run). */
let runIndex = path === undefined ? 0 : Number(path.split(':')[0]);
const totals = { runs: 0, steps: 0, edits: 0, faults: new Map<string, number>(), startedAt: Date.now() };

describe('three nodes on one Redis under random node kills, stops, bus drops and client moves', () => {
  it(
    'every client converges to the store, every acknowledged edit took effect exactly once and none is lost, no client or node is left broken',
    async () => {
      await fc.assert(
        fc.asyncProperty(nodeStepsArb(), async (steps) => {
          const index = runIndex++;
          let run: NodesRun;
          try {
            run = await bounded(NodesRun.start(processes), 'start');
          } catch (error) {
            report(index, steps, undefined, 'start', [String(error)]);
            await processes.disposeAll();
            throw error;
          }
          let phase = 'steps';
          let timer: ReturnType<typeof setTimeout> | undefined;
          // A bound on a run that hangs (a call or a reconnect that never settles): it fails, saying where.
          const hung = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`run hung in ${phase} after ${JSON.stringify(run.applied)}`)), RUN_LIMIT_MS);
          });
          try {
            const body = async (): Promise<void> => {
              for (const step of steps) await run.apply(step);
              phase = 'settle';
              await run.settle();
              phase = 'checks';
              const store = await run.store();
              const problems = [
                ...(await converge(run, store)),
                ...(await violations(run, store, refusedCodes)),
                ...(await delegationViolations(run, store, refusedCodes)),
                ...(await run.broken()),
              ];
              problems.push(...unhandled.splice(0).map((r) => `unhandled rejection: ${String(r)}`));
              if (problems.length > 0) report(index, steps, run, 'checks', problems);
              expect(problems, `after ${JSON.stringify(run.applied)}`).toEqual([]);
            };
            await Promise.race([body(), hung]);
          } catch (error) {
            if (phase !== 'checks') report(index, steps, run, phase, [String(error)]);
            throw error;
          } finally {
            clearTimeout(timer);
            totals.runs++;
            totals.steps += run.applied.length;
            totals.edits += run.edits.length;
            for (const [kind, n] of run.faults) totals.faults.set(kind, (totals.faults.get(kind) ?? 0) + n);
            await bounded(run.dispose(), 'dispose');
            await processes.disposeAll();
          }
        }),
        // Shrinking restarts five processes per attempt: only when asked (CHAOS_SHRINK=1, with CHAOS_SEED).
        { numRuns: runs, seed, ...(path === undefined ? {} : { path }), endOnFailure: process.env['CHAOS_SHRINK'] === undefined },
      );
      const faults = [...totals.faults].map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`nodes chaos: ${totals.runs} runs, ${totals.steps} steps, ${totals.edits} edits, faults: ${faults}; ${((Date.now() - totals.startedAt) / 1000).toFixed(0)} s`);
    },
    runs * 60_000 + RUN_LIMIT_MS,
  );
});
