import type { Logger } from './options.js';

/** The levels of {@link consoleLogger}, lowest first; `'silent'` logs nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

// pino's numbers, so a line reads like pino's and the same tools filter it.
const levelNumbers = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** Where {@link consoleLogger} writes: one line, without its newline. */
export type LogSink = (line: string) => void;

/**
 * A tiny logger with pino's calling convention and line format: one JSON object per line with `level`
 * (pino's numbers), `time` (ms) and the entry's fields; an `err` field becomes `{type, message, stack}`,
 * as pino's serializer makes it. Entries below `level` are dropped. It writes through `console.error`
 * (stderr on Node), so it runs wherever the socket-free core does.
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret }, logger: consoleLogger('info') });
 * ```
 */
export function consoleLogger(level: LogLevel = 'warn', sink: LogSink = (line) => console.error(line)): Logger {
  const threshold = level === 'silent' ? Infinity : levelNumbers[level];
  const at = (name: keyof typeof levelNumbers) => {
    const number = levelNumbers[name];
    return number < threshold ? () => {} : (entry: object) => sink(formatLine(number, entry));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The server's default logger: warnings and errors to stderr, so a bug in a server function (which its
 * caller sees only as `ERR_FUNCTION_FAILED`) is never silent. Pass `logger: silentLogger` or a pino logger
 * to change it.
 */
export const warningLogger: Logger = consoleLogger('warn');

function formatLine(level: number, entry: object): string {
  const line: Record<string, unknown> = { level, time: Date.now() };
  for (const [key, value] of Object.entries(entry)) line[key] = key === 'err' ? serializeError(value) : value;
  try {
    return JSON.stringify(line, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  } catch {
    // A cycle in an entry: say what happened rather than throw inside the code that was logging.
    return JSON.stringify({ level, time: line['time'], event: (entry as { event?: unknown }).event, logError: 'entry could not be serialized' });
  }
}

function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const out: Record<string, unknown> = { type: value.name, message: value.message, stack: value.stack };
  for (const [key, field] of Object.entries(value)) if (!(key in out)) out[key] = field;
  if (value.cause !== undefined && depth < 3) out['cause'] = serializeError(value.cause, depth + 1);
  return out;
}
