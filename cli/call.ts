import { connect } from '../client/index.js';
import { CapsyncError } from '../protocol/errors.js';
import { devLogin, socketUrl } from './dev-login.js';
import { JsonFormError, fromJsonForm, toJsonForm } from './json-form.js';
import { loadPortables } from './portables.js';
import { ExitCode, UsageError, flagHelp, parseFlags, parseMs, type Flag, type Io } from './usage.js';

const flags = {
  token: { type: 'string', value: 'jwt', help: 'session JWT for the server [CAPSYNC_TOKEN]; omit to connect anonymously' },
  user: { type: 'string', value: 'name', help: "get a token from the server's development login first (admin, editor, guest, ...)" },
  timeout: { type: 'string', value: 'ms', help: 'how long to wait for the connection and for the result (default 10000)' },
  import: { type: 'string', multiple: true, value: 'module', help: 'load a module that registers portable classes (repeatable; the demo Video is built in)' },
  compact: { type: 'boolean', help: 'print the result on one line' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, Flag>;

/** The `--help` text of `capsync call`. */
export function callHelp(): string {
  return `Usage: capsync call <url> <function> [args...] [options]

Connects to a capsync server, calls one server function and prints its result as JSON.

Each argument is one JSON value; "-" reads one from standard input. Capabilities and portable
objects use the JSON form the command prints, so a result can be fed to the next call:

  {"$capability": "<token as base64url>", "scope": [...]}   a capability
  {"$portable": "Video", "id": ..., "cap": {...}}            a portable object

Put "--" before arguments that start with "-" (negative numbers).

Options:
${flagHelp(flags)}

Exit codes: 0 the call returned, 1 it failed (the error code is printed on stderr), 2 usage error.

Examples:
  capsync call ws://127.0.0.1:8080 get_my_videos --user editor
  capsync call ws://127.0.0.1:8080 get_my_videos --user editor --compact | jq -c '.[0].cap' |
    capsync call ws://127.0.0.1:8080 set_video_description - '"New text"' --user editor
`;
}

/** `capsync call`: returns the exit code. */
export async function runCall(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, flags);
  if (values.help) {
    io.stdout.write(callHelp());
    return ExitCode.ok;
  }
  const [url, name, ...rawArgs] = positionals;
  if (url === undefined || name === undefined) throw new UsageError('capsync call needs a server URL and a function name');
  const target = socketUrl(url);
  const timeoutMs = parseMs(values.timeout, 'timeout', 10_000);
  if (values.token !== undefined && values.user !== undefined) throw new UsageError('give either --token or --user, not both');
  if (rawArgs.filter((a) => a === '-').length > 1) throw new UsageError('only one argument can be read from standard input ("-")');
  await loadPortables(values.import ?? [], io.cwd);

  const callArgs: unknown[] = [];
  for (const [i, raw] of rawArgs.entries()) {
    const text = raw === '-' ? await readAll(io.stdin) : raw;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      const hint = /^[A-Za-z]/.test(text) ? ` (a string needs JSON quotes: '"${text.slice(0, 20)}"')` : '';
      throw new UsageError(`argument ${i + 1} is not JSON${hint}`);
    }
    try {
      callArgs.push(fromJsonForm(parsed, `argument ${i + 1}`));
    } catch (error) {
      if (error instanceof JsonFormError) throw new UsageError(error.message);
      throw error;
    }
  }

  try {
    const token = values.user !== undefined ? (await devLogin(target, values.user, timeoutMs)).token : (values.token ?? io.env['CAPSYNC_TOKEN']);
    const client = await connect(target, { ...(token ? { token } : {}), connectTimeoutMs: timeoutMs, callTimeoutMs: timeoutMs });
    try {
      const result = await client.call(name, ...callArgs);
      io.stdout.write(`${JSON.stringify(toJsonForm(result), null, values.compact ? undefined : 2)}\n`);
      return ExitCode.ok;
    } finally {
      await client.close();
    }
  } catch (error) {
    if (!(error instanceof CapsyncError)) throw error;
    const where = error.code === 'ERR_NOT_CONNECTED' && !error.message.startsWith('cannot') ? `cannot connect to ${target}: ` : '';
    io.stderr.write(`${error.code}: ${where}${error.message}\n`);
    return ExitCode.failed;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
