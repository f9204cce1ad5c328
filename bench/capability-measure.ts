/**
 * Interleaved timing for `bench:capability`: small batches of every operation in turn (in reverse order
 * every other round), each batch's CPU time recorded, medians over the rounds. The batches are short (a few
 * ms) so that the operations a target compares run within milliseconds of each other and a burst of load on
 * a shared machine lands on both: timing `jose` and capsync at different moments made their ratio swing 6x.
 */

const ROUNDS = 150;
const SLICE_MS = 2;
const WARMUP_MS = 200;

export interface Op {
  readonly name: string;
  readonly run: () => unknown;
  readonly async: boolean;
  /** Calls per slice, calibrated so one slice lasts about SLICE_MS. */
  iterations: number;
  /** CPU ns per call (every thread of the process: jose's HMAC runs on the thread pool), one per round. */
  readonly samples: number[];
  /** Wall-clock ns per call, one per round. */
  readonly wall: number[];
}

let sink = 0;

export function op(name: string, run: () => unknown, async = false): Op {
  return { name, run, async, iterations: 1, samples: [], wall: [] };
}

/** Runs `o` `n` times; returns the elapsed wall-clock and CPU nanoseconds. */
async function slice(o: Op, n: number): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  if (o.async) for (let i = 0; i < n; i++) sink += (await o.run()) ? 1 : 0;
  else for (let i = 0; i < n; i++) sink += o.run() ? 1 : 0;
  const wall = Number(process.hrtime.bigint() - start);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) * 1000 };
}

/**
 * Interleaves the operations: each round runs one slice of every operation in turn, so a burst of load
 * on the machine hits all of them alike and the ratios of one round stay comparable. Records CPU time as
 * well as wall time: on a shared machine a slice's wall time includes the time the process was not running,
 * its CPU time does not. Returns the rounds.
 */
export async function measure(ops: Op[]): Promise<number> {
  for (const o of ops) {
    let n = 1;
    let ns = 0;
    while ((ns = (await slice(o, n)).wall) < 5e6) n *= 2;
    o.iterations = Math.max(1, Math.round((n * SLICE_MS * 1e6) / ns));
    await slice(o, Math.round((o.iterations * WARMUP_MS) / SLICE_MS)); // JIT, caches and thread pool warmed
  }
  const reversed = [...ops].reverse();
  for (let r = 0; r < ROUNDS; r++) {
    for (const o of r % 2 === 0 ? ops : reversed) {
      await slice(o, Math.ceil(o.iterations / 10)); // back in cache after the other operations ran
      const { wall, cpu } = await slice(o, o.iterations);
      o.samples.push(cpu / o.iterations);
      o.wall.push(wall / o.iterations);
    }
  }
  if (sink < 0) console.log(sink);
  return ROUNDS;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The ratio of the medians over rounds of a and b (CPU time, or wall time): a batch is too short to be judged alone. */
export function ratio(a: Op, b: Op, wall = false): number {
  const [x, y] = wall ? [a.wall, b.wall] : [a.samples, b.samples];
  return median(x) / median(y);
}
