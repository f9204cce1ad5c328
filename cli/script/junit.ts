import { totals } from './report.js';
import type { ScriptResult, StepResult } from './results.js';

/**
 * JUnit XML for CI: one `<testsuite>` per script, one `<testcase>` per step. A failed step carries a
 * `<failure>` with its message, the failed expectations and their diffs; a skipped step carries `<skipped/>`.
 */
export function junitXml(results: readonly ScriptResult[], now = new Date()): string {
  const all = totals(results);
  const time = (ms: number) => (ms / 1000).toFixed(3);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="capsync test" tests="${all.passed + all.failed + all.skipped}" failures="${all.failed}" errors="0" skipped="${all.skipped}" time="${time(results.reduce((a, r) => a + r.ms, 0))}">`,
  ];
  for (const r of results) {
    const t = totals([r]);
    lines.push(
      `  <testsuite name="${attr(r.name)}" file="${attr(r.file)}" tests="${r.steps.length}" failures="${t.failed}" errors="0" skipped="${t.skipped}" time="${time(r.ms)}" timestamp="${now.toISOString().slice(0, 19)}">`,
      `    <properties><property name="url" value="${attr(r.url)}"/></properties>`,
    );
    for (const step of r.steps) lines.push(...testcase(r, step, time));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

function testcase(r: ScriptResult, step: StepResult, time: (ms: number) => string): string[] {
  const open = `    <testcase name="${attr(`${step.index} ${step.label}`)}" classname="${attr(r.name)}" file="${attr(r.file)}" line="${step.line}" time="${time(step.ms)}"`;
  if (step.status === 'passed') return [`${open}/>`];
  if (step.status === 'skipped') return [`${open}>`, '      <skipped message="an earlier step failed"/>', '    </testcase>'];
  const failed = step.expectations.filter((e) => !e.passed);
  const message = step.failure?.message ?? failed.map((e) => `${e.label}: ${e.failure?.message ?? 'failed'}`).join('; ');
  const details: string[] = [];
  if (step.failure) details.push(step.failure.message, ...(step.failure.diff ?? []));
  for (const e of step.expectations) {
    details.push(`${e.passed ? '✓' : '✗'} ${e.label}`);
    if (e.failure) details.push(`  ${e.failure.message}`, ...(e.failure.diff ?? []).map((l) => `  ${l}`));
  }
  details.push(`at ${r.file}:${step.line}`);
  return [`${open}>`, `      <failure message="${attr(message)}" type="expectation">${text(details.join('\n'))}</failure>`, '    </testcase>'];
}

// XML 1.0 cannot carry most control characters, even escaped: they are dropped.
// eslint-disable-next-line no-control-regex
const INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function text(value: string): string {
  return value.replace(INVALID, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;').replace(/\n/g, '&#10;');
}
