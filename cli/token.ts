import { CapsyncError } from '../protocol/errors.js';
import { devLogin } from './dev-login.js';
import { ExitCode, UsageError, flagHelp, parseFlags, parseMs, type Flag, type Io } from './usage.js';

const flags = {
  user: { type: 'string', value: 'name', help: 'the development user (the demo has admin, editor, editor2, guest)' },
  json: { type: 'boolean', help: 'print {"token": ..., "user": {...}} instead of the bare token' },
  timeout: { type: 'string', value: 'ms', help: 'how long to wait for the server (default 10000)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, Flag>;

/** The `--help` text of `capsync token`. */
export function tokenHelp(): string {
  return `Usage: capsync token <url> --user <name> [options]

Gets a development JWT from a server's development login (GET /dev/login?user=<name>) and prints it.
The URL may be the WebSocket URL (ws://host:port) or the HTTP one (http://host:port).
Development logins are for local servers and tests only: the demo serves one unless started
with --no-dev-login.

Options:
${flagHelp(flags)}

Exit codes: 0 printed a token, 1 the server refused or could not be reached, 2 usage error.

Example:
  export CAPSYNC_TOKEN=$(capsync token ws://127.0.0.1:8080 --user editor)
  capsync call ws://127.0.0.1:8080 get_my_videos
`;
}

/** `capsync token`: returns the exit code. */
export async function runToken(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, flags);
  if (values.help) {
    io.stdout.write(tokenHelp());
    return ExitCode.ok;
  }
  const [url, ...rest] = positionals;
  if (url === undefined) throw new UsageError('capsync token needs the server URL');
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (values.user === undefined || values.user === '') throw new UsageError('capsync token needs --user <name>');
  const timeoutMs = parseMs(values.timeout, 'timeout', 10_000);
  try {
    const login = await devLogin(url, values.user, timeoutMs);
    io.stdout.write(values.json ? `${JSON.stringify(login, null, 2)}\n` : `${login.token}\n`);
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof CapsyncError)) throw error;
    io.stderr.write(`${error.code}: ${error.message}\n`);
    return ExitCode.failed;
  }
}
