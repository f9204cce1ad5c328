import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { converge, violations } from './session-invariants.js';
import { SessionRun, sessionStepsArb } from './sessions.js';
import { useServerProcesses } from './server-process.js';

/** `npm test` runs a few sequences; `npm run chaos` (or CHAOS_RUNS=n) many more. CHAOS_SEED replays a failure. */
const runs = Number(process.env['CHAOS_RUNS'] ?? 5);
const seed = process.env['CHAOS_SEED'] === undefined ? undefined : Number(process.env['CHAOS_SEED']);

const processes = useServerProcesses();

describe('sessions under random edits, faults, delegations, revocations and expiries', () => {
  it(
    'every client converges to the store, the guest receives nothing it may not, and every keyed edit took effect once (or is reported unknown)',
    async () => {
      await fc.assert(
        fc.asyncProperty(sessionStepsArb(), async (steps) => {
          const run = await SessionRun.start(processes);
          try {
            for (const step of steps) await run.apply(step);
            await run.settle();
            const store = await run.store();
            const problems = [...(await converge(run, store)), ...(await violations(run, store))];
            expect(problems, `after ${JSON.stringify(run.applied)}`).toEqual([]);
          } finally {
            await run.dispose();
            await processes.disposeAll();
          }
        }),
        // Shrinking restarts a server per attempt: worth it in `npm run chaos`, too slow for `npm test`.
        { numRuns: runs, ...(seed === undefined ? {} : { seed }), endOnFailure: process.env['CHAOS_RUNS'] === undefined },
      );
    },
    runs * 30_000,
  );
});
