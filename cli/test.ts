import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadPortables } from './portables.js';
import { junitXml } from './script/junit.js';
import { ScriptError, parseScript } from './script/load.js';
import { ConsoleReporter, totals } from './script/report.js';
import { runScript, serverUrlOf, type ScriptResult } from './script/runner.js';
import { scriptJsonSchema } from './script/schema.js';
import type { Script } from './script/steps.js';
import { ExitCode, UsageError, flagHelp, parseFlags, parseMs, type Flag, type Io } from './usage.js';

const flags = {
  url: { type: 'string', value: 'url', help: "the server (ws:// or http://); overrides CAPSYNC_URL and the scripts' `url`" },
  timeout: { type: 'string', value: 'ms', help: "default wait for connections, calls and events; overrides the scripts' `timeout` (5000)" },
  reporter: { type: 'string', value: 'console|junit', help: 'console (default), or junit: JUnit XML to --output, else to stdout instead of the console report' },
  output: { type: 'string', value: 'file', help: 'write the JUnit XML report to this file (the console report still prints)' },
  import: { type: 'string', multiple: true, value: 'module', help: 'load a module that registers portable classes (repeatable; the demo Video is built in)' },
  check: { type: 'boolean', help: 'only validate the scripts, run nothing' },
  schema: { type: 'boolean', help: 'print the JSON Schema of the script format and exit' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, Flag>;

/** The `--help` text of `capsync test`. */
export function testHelp(): string {
  return `Usage: capsync test <script...> [options]

Runs scripted protocol tests: each script (YAML or JSON) declares named clients and steps run in
order: connect, call, narrow, forge, delegate, revoke, presence, wait, send, expect, let,
disconnect. The format is documented in docs/scripts.md, with a JSON Schema in docs/script.schema.json.

Prints a line per step and per expectation, the diff of each failure, and "N passed, N failed".

Options:
${flagHelp(flags)}

Exit codes: 0 every step passed, 1 a step failed, 2 usage or script error (nothing ran).

Example:
  capsync test examples/scripts/videos.yaml --url ws://127.0.0.1:8080
  capsync test examples/scripts/*.yaml --reporter junit --output capsync-results.xml
`;
}

/** `capsync test`: returns the exit code. */
export async function runTest(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, flags);
  if (values.help) {
    io.stdout.write(testHelp());
    return ExitCode.ok;
  }
  if (values.schema) {
    io.stdout.write(`${JSON.stringify(scriptJsonSchema(), null, 2)}\n`);
    return ExitCode.ok;
  }
  const reporter = values.reporter ?? 'console';
  if (reporter !== 'console' && reporter !== 'junit') throw new UsageError(`--reporter must be console or junit, not ${JSON.stringify(reporter)}`);
  if (values.output !== undefined && reporter !== 'junit') throw new UsageError('--output is for --reporter junit');
  if (positionals.length === 0) throw new UsageError('capsync test needs at least one script');
  const timeout = values.timeout === undefined ? undefined : parseMs(values.timeout, 'timeout', 5_000);

  // Every script is read and validated before anything runs: a typo in the third script should not cost a run of the first two.
  const scripts: Script[] = [];
  const problems: string[] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(resolve(io.cwd, file), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(`${file}: cannot read the script${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`);
      continue;
    }
    try {
      scripts.push(parseScript(file, text));
    } catch (error) {
      if (!(error instanceof ScriptError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) {
    io.stderr.write(`${problems.join('\n')}\n${problems.length === 1 && !problems[0]!.includes('\n') ? '' : '\n'}See docs/scripts.md for the script format.\n`);
    return ExitCode.usage;
  }
  if (values.check) {
    io.stdout.write(`${scripts.length} script${scripts.length === 1 ? '' : 's'} OK\n`);
    return ExitCode.ok;
  }
  for (const script of scripts) serverUrlOf(script, { url: values.url, env: io.env }); // a missing URL is a usage error, before anything runs
  await loadPortables(values.import ?? [], io.cwd);
  for (const script of scripts) await loadPortables(script.imports, dirname(resolve(io.cwd, script.file)));

  const junitToStdout = reporter === 'junit' && values.output === undefined;
  const color = !junitToStdout && (io.stdout as NodeJS.WriteStream).isTTY === true && io.env['NO_COLOR'] === undefined;
  const console = junitToStdout ? undefined : new ConsoleReporter(io.stdout, color);
  const started = performance.now();
  const results: ScriptResult[] = [];
  for (const script of scripts) {
    const url = serverUrlOf(script, { url: values.url, env: io.env });
    console?.scriptStarted(script.file, script.name, url);
    results.push(await runScript(script, { url: values.url, timeout, env: io.env, ...(console ? { onStep: (s) => console.step(s) } : {}) }));
  }
  const t = totals(results);
  console?.summary(t, performance.now() - started);
  if (reporter === 'junit') {
    const xml = junitXml(results);
    if (values.output === undefined) io.stdout.write(xml);
    else {
      try {
        writeFileSync(resolve(io.cwd, values.output), xml);
      } catch (error) {
        io.stderr.write(`capsync: cannot write ${values.output}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
        return ExitCode.usage;
      }
    }
  }
  return t.failed > 0 ? ExitCode.failed : ExitCode.ok;
}
