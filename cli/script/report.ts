import type { ScriptResult, StepResult } from './results.js';

/** Step counts over one or more scripts. A script that could not load counts as one failure. */
export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

export function totals(results: readonly ScriptResult[], loadFailures = 0): Totals {
  const t: Totals = { passed: 0, failed: loadFailures, skipped: 0 };
  for (const r of results) for (const s of r.steps) t[s.status]++;
  return t;
}

/** `12 passed, 1 failed` (and how many were skipped, when any were). */
export function summaryLine(t: Totals): string {
  return `${t.passed} passed, ${t.failed} failed${t.skipped ? ` (${t.skipped} skipped)` : ''}`;
}

interface Style {
  ok(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
}

const plain: Style = { ok: (t) => t, bad: (t) => t, dim: (t) => t };
const ansi: Style = {
  ok: (t) => `\x1b[32m${t}\x1b[39m`,
  bad: (t) => `\x1b[31m${t}\x1b[39m`,
  dim: (t) => `\x1b[2m${t}\x1b[22m`,
};

/** Prints a line per step and per expectation as they finish, each failure's diff, and the summary. */
export class ConsoleReporter {
  readonly #out: NodeJS.WritableStream;
  readonly #style: Style;

  constructor(out: NodeJS.WritableStream, color: boolean) {
    this.#out = out;
    this.#style = color ? ansi : plain;
  }

  scriptStarted(file: string, name: string, url: string): void {
    this.#out.write(`\n${name === file ? file : `${name} (${file})`} ${this.#style.dim(`against ${url}`)}\n`);
  }

  step(result: StepResult): void {
    const s = this.#style;
    if (result.status === 'skipped') {
      this.#out.write(s.dim(`  - ${result.index} ${result.label} (skipped)`) + '\n');
      return;
    }
    const mark = result.status === 'passed' ? s.ok('✓') : s.bad('✗');
    this.#out.write(`  ${mark} ${result.index} ${result.label} ${s.dim(`(${Math.round(result.ms)} ms)`)}\n`);
    if (result.failure) this.#failure(result.failure.message, result.failure.diff, '      ');
    for (const e of result.expectations) {
      this.#out.write(`      ${e.passed ? s.ok('✓') : s.bad('✗')} ${e.label}\n`);
      if (e.failure) this.#failure(e.failure.message, e.failure.diff, '          ');
    }
    if (result.status === 'failed') this.#out.write(s.dim(`      at line ${result.line}`) + '\n');
  }

  #failure(message: string, diff: readonly string[] | undefined, indent: string): void {
    const s = this.#style;
    this.#out.write(`${indent}${s.bad(message)}\n`);
    if (diff === undefined) return;
    if (diff.some((l) => l.startsWith('- ')) && diff.some((l) => l.startsWith('+ '))) {
      this.#out.write(`${indent}${s.dim('(- expected, + actual)')}\n`);
    }
    for (const line of diff) {
      const colored = line.startsWith('- ') ? s.ok(line) : line.startsWith('+ ') ? s.bad(line) : s.dim(line);
      this.#out.write(`${indent}${colored}\n`);
    }
  }

  loadFailed(message: string): void {
    this.#out.write(`\n${this.#style.bad(message)}\n`);
  }

  summary(t: Totals, ms: number): void {
    const line = summaryLine(t);
    this.#out.write(`\n${t.failed ? this.#style.bad(line) : this.#style.ok(line)} ${this.#style.dim(`in ${(ms / 1000).toFixed(2)} s`)}\n`);
  }
}
