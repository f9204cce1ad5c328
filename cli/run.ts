import { readFileSync } from 'node:fs';
import { ExitCode, UsageError, type Io } from './usage.js';

type Command = (args: string[], io: Io) => Promise<number>;

// Each subcommand is loaded only when run: `capsync call` never loads the server, `serve` never the script runner.
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the Video manager demo server (what `npm start` runs)', load: async () => (await import('./serve.js')).runServe },
  call: { summary: 'call one server function and print the result as JSON', load: async () => (await import('./call.js')).runCall },
  token: { summary: "get a development JWT from a server's dev login", load: async () => (await import('./token.js')).runToken },
  test: { summary: 'run scripted protocol tests (YAML or JSON scripts)', load: async () => (await import('./test.js')).runTest },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const list = Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `Usage: capsync <command> [options]

Commands:
${list}

Run "capsync <command> --help" for a command's arguments and options.
Options: -h, --help  show this help;  -v, --version  print the version.
`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the command line; resolves with the exit code. Never prints a stack trace unless CAPSYNC_DEBUG is set. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help') {
      (first === undefined ? io.stderr : io.stdout).write(mainHelp());
      return first === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (first === '-v' || first === '--version') {
      io.stdout.write(`${version()}\n`);
      return ExitCode.ok;
    }
    if (first === 'help') {
      const topic = rest[0];
      if (topic === undefined) {
        io.stdout.write(mainHelp());
        return ExitCode.ok;
      }
      return await main([topic, '--help'], io);
    }
    const command = Object.hasOwn(commands, first) ? commands[first] : undefined;
    if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(first)}`);
    return await (await command.load())(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const topic = first !== undefined && Object.hasOwn(commands, first) ? `capsync ${first} --help` : 'capsync --help';
      io.stderr.write(`capsync: ${error.message}\nRun "${topic}" for usage.\n`);
      return ExitCode.usage;
    }
    const detail = io.env['CAPSYNC_DEBUG'] ? String((error as Error)?.stack ?? error) : String((error as Error)?.message ?? error);
    io.stderr.write(`capsync: internal error: ${detail}\n(set CAPSYNC_DEBUG=1 for details, and please report it)\n`);
    return ExitCode.internal;
  }
}
