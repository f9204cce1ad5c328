import { JsonFormError, toJsonForm, type JsonForm } from '../json-form.js';
import { expectationLabel } from './labels.js';
import { differs, lineDiff, mismatch, project, truncate } from './match.js';
import type { ExpectationResult, Failure } from './results.js';
import type { ReceivedEvent } from './script-client.js';
import type { Expectation } from './steps.js';
import { TemplateError } from './template.js';

/** What a step produced: a value, or a typed error. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: string; readonly message: string };

/** Checks each expectation against a step's outcome (or a received event); templates resolve through `resolve`. */
export function checkAll(list: readonly Expectation[], outcome: Outcome, resolve: (value: unknown) => unknown, event?: ReceivedEvent): ExpectationResult[] {
  return list.map((e) => {
    const label = expectationLabel(e);
    try {
      const failure = event ? checkEvent(e, event, resolve) : check(e, outcome, resolve);
      return failure ? { label, passed: false, failure } : { label, passed: true };
    } catch (error) {
      if (error instanceof TemplateError || error instanceof JsonFormError) return { label, passed: false, failure: { message: error.message } };
      throw error;
    }
  });
}

function check(e: Expectation, outcome: Outcome, resolve: (value: unknown) => unknown): Failure | undefined {
  if (e.kind === 'error') {
    if (!outcome.ok && outcome.code === e.code) return undefined;
    const actual = outcome.ok ? `result ${truncate(JSON.stringify(toJsonForm(outcome.value)), 200)}` : `error ${outcome.code}: ${outcome.message}`;
    return { message: outcome.ok ? `expected error ${e.code}, but it succeeded` : `expected error ${e.code}, got ${outcome.code}`, diff: [`- error ${e.code}`, `+ ${actual}`] };
  }
  if (!outcome.ok) return { message: `expected a result, got error ${outcome.code}: ${outcome.message}` };
  return compare(e, toJsonForm(outcome.value), resolve);
}

/** On a received event, `error:` looks at the event's code (an error event, or a reply carrying an error). */
function checkEvent(e: Expectation, event: ReceivedEvent, resolve: (value: unknown) => unknown): Failure | undefined {
  if (e.kind !== 'error') return compare(e, event.form, resolve);
  const code = event.value['code'] ?? (event.value['error'] as { code?: unknown } | undefined)?.code;
  return code === e.code ? undefined : { message: `expected error ${e.code}, got ${code === undefined ? `a ${event.kind} without an error` : String(code)}` };
}

function compare(e: Exclude<Expectation, { kind: 'error' }>, actual: JsonForm, resolve: (value: unknown) => unknown): Failure | undefined {
  if (e.kind === 'equals') {
    const expected = toJsonForm(resolve(e.value), false);
    const m = differs(expected, actual);
    return m ? { message: `at ${m.path}: ${m.message}`, diff: lineDiff(pretty(expected), pretty(actual)) } : undefined;
  }
  const pattern = toJsonForm(resolve(e.pattern), false);
  const m = mismatch(pattern, actual);
  return m ? { message: `at ${m.path}: ${m.message}`, diff: patternDiff(pattern, actual) } : undefined;
}

/** The outcome a reply to a raw frame stands for. */
export function replyOutcome(reply: ReceivedEvent): Outcome {
  if (reply.kind === 'error') return { ok: false, code: String(reply.value['code']), message: String(reply.value['message']) };
  const error = reply.value['error'] as { code: string; message: string } | undefined;
  return error ? { ok: false, code: error.code, message: error.message } : { ok: true, value: reply.value['result'] };
}

/** The pattern against the part of the value it looked at. */
export function patternDiff(pattern: JsonForm, actual: JsonForm): string[] {
  return lineDiff(pretty(pattern), pretty(project(pattern, actual) ?? null));
}

function pretty(value: JsonForm): string {
  return JSON.stringify(value, null, 2);
}
