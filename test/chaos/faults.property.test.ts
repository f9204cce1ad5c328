import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChaosRun, faultsArb } from './faults.js';
import { useServerProcesses } from './server-process.js';

/** `npm test` runs a few sequences; `npm run chaos` (or CHAOS_RUNS=n) many more. CHAOS_SEED replays a failure. */
const runs = Number(process.env['CHAOS_RUNS'] ?? 5);
const seed = process.env['CHAOS_SEED'] === undefined ? undefined : Number(process.env['CHAOS_SEED']);
/** Codes a call may end with when its connection was cut, killed or refused under it. */
const droppedCodes = ['ERR_CONNECTION_CLOSED', 'ERR_CALL_TIMEOUT'];

const processes = useServerProcesses();

describe('the chaos harness under random fault sequences', () => {
  it(
    'keeps the server restartable, the proxy forwarding after every repair, every call settled and every child reaped',
    async () => {
      await fc.assert(
        fc.asyncProperty(faultsArb(), async (faults) => {
          const run = await ChaosRun.start(processes);
          try {
            for (const fault of faults) {
              await run.apply(fault);
              expect(run.server.running, `server down after ${JSON.stringify(run.applied)}`).toBe(true);
              expect(processes.running, 'one server child at a time').toBe(1);
              await run.probe();
            }
            for (const outcome of await run.settle()) {
              if (!outcome.ok) expect(droppedCodes).toContain(outcome.code);
            }
          } finally {
            await run.dispose();
          }
          const children = [...processes.children];
          await processes.disposeAll();
          expect(run.proxy.connections).toBe(0);
          expect(children.every((c) => c.exitCode !== null || c.signalCode !== null)).toBe(true);
        }),
        // Shrinking restarts a server process per attempt: worth it in `npm run chaos`, too slow for `npm test`.
        { numRuns: runs, ...(seed === undefined ? {} : { seed }), endOnFailure: process.env['CHAOS_RUNS'] === undefined },
      );
    },
    runs * 20_000,
  );
});
