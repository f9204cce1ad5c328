import { parseArgs } from 'node:util';

/** Everything a run of `npm run bench:resume` can be told from the command line. */
export interface ResumeOptions {
  /** Rounds of part (a); figures are medians of the rounds' percentiles. */
  readonly rounds: number;
  /** Repetitions of each kind per round. */
  readonly repetitions: number;
  /** Herd clients of part (b); 0 skips it. */
  readonly clients: number;
  /** Load processes the herd clients are spread over. */
  readonly loadProcesses: number;
  /** kill -9 and restarts of the herd server, each with every client connected. */
  readonly herdRounds: number;
  /** Groups of 10 cards the herd clients share (one capability each). */
  readonly groups: number;
  /** A bound on one herd (not a synchronisation): a client not back by then counts as not resumed. */
  readonly herdTimeoutMs: number;
  readonly quick: boolean;
  /** Where resume.json goes. */
  readonly out: string;
  /** If set, every server and load child runs with `--cpu-prof` and writes its profile here (a killed one writes none). */
  readonly profile: string | undefined;
}

export const usage = `Usage: npm run bench:resume -- [options]

Times capsync's resume on 127.0.0.1, beside baselines measured in the same run.

  --rounds N           rounds of the latency part (a); figures are medians over rounds (default 5)
  --repetitions N      repetitions of each kind per round (default 40)
  --clients N          clients of the herd part (b) (default 10000; 0 skips it)
  --load-processes N   processes the herd clients run in (default 2)
  --herd-rounds N      kill -9 and restarts of the herd server (default 3)
  --groups N           groups of 10 cards the herd clients share (default 100)
  --out DIR            where resume.json is written (default bench/results)
  --profile DIR        run the server and load children with --cpu-prof, profiles in DIR (a server killed with -9 writes none)
  --quick              2 rounds of 8, a herd of 200 clients in 1 load process, 2 herd rounds
  --help               this text
`;

/** Parses the command line. Throws with a readable message on a bad value. */
export function parseOptions(argv: readonly string[]): ResumeOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: 'string' },
      repetitions: { type: 'string' },
      clients: { type: 'string' },
      'load-processes': { type: 'string' },
      'herd-rounds': { type: 'string' },
      groups: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick;
  return {
    rounds: integer('rounds', values.rounds ?? (quick ? '2' : '5'), 1),
    repetitions: integer('repetitions', values.repetitions ?? (quick ? '8' : '40'), 1),
    clients: integer('clients', values.clients ?? (quick ? '200' : '10000'), 0),
    loadProcesses: integer('load-processes', values['load-processes'] ?? (quick ? '1' : '2'), 1),
    herdRounds: integer('herd-rounds', values['herd-rounds'] ?? (quick ? '2' : '3'), 1),
    groups: integer('groups', values.groups ?? '100', 1),
    herdTimeoutMs: 120_000,
    quick,
    out: values.out ?? 'bench/results',
    profile: values.profile,
  };
}

function integer(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}
