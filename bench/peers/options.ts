import { parseArgs } from 'node:util';
import { isSystemId, systems, type SystemId } from './systems.js';

/** Everything a run can be told from the command line. */
export interface BenchOptions {
  /** Interleaved rounds of the calls benchmark. */
  readonly rounds: number;
  /** Interleaved rounds of the fan-out benchmark (each connects every connection anew: slower). */
  readonly fanoutRounds: number;
  /** Connections of the calls benchmark, each with one call in flight. */
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Connection counts of the fan-out benchmark. */
  readonly fanout: readonly number[];
  /** Measured updates per fan-out round (after one warm-up update). */
  readonly updates: number;
  readonly systems: readonly SystemId[];
  /** Interleaved rounds of the calls benchmark with each system's server and load in one process (0 skips). */
  readonly inProcessRounds: number;
  /** Capabilities each capsync connection holds (minted for it and sent) before it calls or subscribes. */
  readonly holdings: number;
  /** Where peers.json and peers.svg go. */
  readonly out: string;
  /** If set, every server and load process runs with `--cpu-prof` and writes its profile under this folder. */
  readonly profile: string | undefined;
  /** The compiled output of another build, which the `capsync-baseline` systems run (`--baseline DIR`). */
  readonly baseline: string | undefined;
}

export const usage = `Usage: npm run bench:peers -- [options]

Compares capsync with raw ws + msgpackr (the floor), Socket.IO 4 and Cap'n Web on 127.0.0.1.

  --rounds N          interleaved rounds of the calls benchmark; figures are medians (default 5)
  --fanout-rounds N   interleaved rounds of the fan-out benchmark (default 3)
  --in-process-rounds N  rounds of the calls benchmark with server and load in one process (default: --rounds; 0 skips)
  --holdings N        capabilities each capsync connection holds before it calls or subscribes (default 100)
  --connections N     connections of the calls benchmark, one call in flight each (default 50)
  --duration S        measured seconds per system and round (default 4)
  --warmup S          warm-up seconds before each measurement (default 1)
  --fanout N,N        connection counts of the fan-out benchmark (default 1000,10000; 0 skips it)
  --updates N         measured updates per fan-out round (default 5)
  --systems a,b       subset of ${systems.map((s) => s.id).join(',')} (the floor is always included)
  --out DIR           where peers.json and peers.svg are written (default bench/results)
  --profile DIR       run every server and load process with --cpu-prof (DIR/<system>/server, .../load)
  --baseline DIR      the compiled output (dist) of another build: adds capsync-baseline and
                      capsync-unkeyed-baseline, that build's capsync, to the systems, for before/after in one run
  --quick             1 round of each, 2 s, fan-out to 1000 only
  --help              this text
`;

/** Parses the command line. Throws with a readable message on a bad value. */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: 'string' },
      'fanout-rounds': { type: 'string' },
      connections: { type: 'string' },
      'in-process-rounds': { type: 'string' },
      holdings: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      fanout: { type: 'string' },
      updates: { type: 'string' },
      systems: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string' },
      baseline: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick;
  const baselines = ['capsync-baseline', 'capsync-unkeyed-baseline'];
  const chosen =
    values.systems === undefined
      ? systems.map((s) => s.id).filter((id) => values.baseline !== undefined || !baselines.includes(id))
      : values.systems.split(',').map((s) => s.trim());
  for (const id of chosen) if (!isSystemId(id)) throw new Error(`unknown system ${JSON.stringify(id)}`);
  if (values.baseline === undefined && chosen.some((id) => baselines.includes(id))) throw new Error('the baseline systems need --baseline DIR');
  const selected = systems.map((s) => s.id).filter((id) => id === 'floor' || chosen.includes(id));
  const fanout = (values.fanout ?? (quick ? '1000' : '1000,10000'))
    .split(',')
    .map((n) => integer('fanout', n.trim(), 0))
    .filter((n) => n > 0);
  const rounds = integer('rounds', values.rounds ?? (quick ? '1' : '5'), 1);
  return {
    rounds,
    inProcessRounds: integer('in-process-rounds', values['in-process-rounds'] ?? String(rounds), 0),
    holdings: integer('holdings', values.holdings ?? '100', 0),
    fanoutRounds: integer('fanout-rounds', values['fanout-rounds'] ?? (quick ? '1' : '3'), 1),
    connections: integer('connections', values.connections ?? '50', 1),
    durationSeconds: number('duration', values.duration ?? (quick ? '2' : '4'), 0.1),
    warmupSeconds: number('warmup', values.warmup ?? (quick ? '0.5' : '1'), 0),
    fanout,
    updates: integer('updates', values.updates ?? (quick ? '3' : '5'), 1),
    systems: selected,
    out: values.out ?? 'bench/results',
    profile: values.profile,
    baseline: values.baseline,
  };
}

function number(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}

function integer(name: string, text: string, min: number): number {
  const value = number(name, text, min);
  if (!Number.isInteger(value)) throw new Error(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return value;
}
