import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes shared by every subcommand. */
export const ExitCode = {
  ok: 0,
  /** A call was refused, a connection failed, or an expectation did not hold. */
  failed: 1,
  /** The command line or a script is wrong: nothing was (or could be) run. */
  usage: 2,
  /** A bug in capsync itself. */
  internal: 70,
} as const;

/** A mistake in the command line or a script; printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One flag of a subcommand: its parseArgs definition plus the help line. */
export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly value?: string;
  readonly help: string;
}

/** The streams and environment a command runs with: the real process, or a test's stand-ins. */
export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** The `Options:` block of a help text. */
export function flagHelp(flags: Readonly<Record<string, Flag>>): string {
  return Object.entries(flags)
    .map(([name, f]) => {
      const short = f.short ? `-${f.short}, ` : '    ';
      const value = f.type === 'string' ? ` <${f.value ?? 'value'}>` : '';
      return `  ${short}--${name}${value}\n        ${f.help}`;
    })
    .join('\n');
}

/** Parses flags with `node:util` parseArgs; unknown flags and missing values become a {@link UsageError}. */
export function parseFlags<F extends Readonly<Record<string, Flag>>>(
  args: string[],
  flags: F,
): { values: { [K in keyof F]?: F[K]['type'] extends 'boolean' ? boolean : F[K]['multiple'] extends true ? string[] : string }; positionals: string[] } {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, f] of Object.entries(flags)) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: values as never, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Parses a flag holding a duration in milliseconds. */
export function parseMs(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0 || ms > 3_600_000) throw new UsageError(`--${flag} must be a whole number of milliseconds (1 to 3600000)`);
  return ms;
}
