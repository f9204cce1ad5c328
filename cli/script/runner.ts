import { randomBytes } from 'node:crypto';
import { Capability } from '../../protocol/index.js';
import { CapsyncError } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json-value.js';
import { forgeCapability, requestIdOf } from '../../testing/hostile.js';
import { devLogin, socketUrl } from '../dev-login.js';
import { JsonFormError, fromJsonForm, parseHex, toJsonForm } from '../json-form.js';
import { UsageError } from '../usage.js';
import { checkAll, patternDiff, replyOutcome, type Outcome } from './expectations.js';
import { label } from './labels.js';
import { mismatch, truncate } from './match.js';
import { encodeRawFrame } from './raw-frame.js';
import type { ExpectationResult, Failure, ScriptResult, StepResult } from './results.js';
import type { EventKind } from './schema.js';
import { ScriptClient, type ReceivedEvent } from './script-client.js';
import type { Expectation, Script, Step } from './steps.js';
import { TemplateError, resolveTemplates, type Scope } from './template.js';

export type { ExpectationResult, Failure, ScriptResult, StepResult } from './results.js';

export interface RunOptions {
  /** `--url` (wins), else `CAPSYNC_URL` from `env`, else the script's `url`. */
  readonly url: string | undefined;
  /** `--timeout`: replaces the script's default timeout. */
  readonly timeout: number | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Hears each step as soon as it has run (the console reporter prints it then). */
  readonly onStep?: (result: StepResult) => void;
}

/** A step failed before it could produce an outcome (a bad value in the script, a client not connected, ...). */
class StepFailure extends Error {
  constructor(
    message: string,
    readonly diff?: readonly string[],
  ) {
    super(message);
  }
}

/** The server URL a script runs against. Throws a {@link UsageError} when there is none. */
export function serverUrlOf(script: Script, options: Pick<RunOptions, 'url' | 'env'>): string {
  const url = options.url ?? options.env['CAPSYNC_URL'] ?? script.url;
  if (url === undefined) throw new UsageError(`${script.file}: no server URL: give --url ws://host:port, set CAPSYNC_URL, or add \`url:\` to the script`);
  return socketUrl(url);
}

/** Runs one validated script against a server. Never throws for what the server does: that is a result. */
export async function runScript(script: Script, options: RunOptions): Promise<ScriptResult> {
  return new Run(script, options).run();
}

class Run {
  readonly url: string;
  readonly timeout: number;
  readonly saved = new Map<string, unknown>();
  readonly scope: Scope;
  readonly clients = new Map<string, ScriptClient>();
  readonly resolver = (value: unknown): unknown => this.resolve(value);

  constructor(
    readonly script: Script,
    readonly options: RunOptions,
  ) {
    this.url = serverUrlOf(script, options);
    this.timeout = options.timeout ?? script.timeout;
    // Per run, so a script's made-up users never collide with real ones or with another run's.
    this.scope = { saved: this.saved, env: options.env, runId: `run-${randomBytes(6).toString('hex')}` };
  }

  async run(): Promise<ScriptResult> {
    const started = performance.now();
    const results: StepResult[] = [];
    let stop = false;
    try {
      for (const step of this.script.steps) {
        const result = stop ? skipped(step) : await this.step(step);
        results.push(result);
        this.options.onStep?.(result);
        if (result.status === 'failed' && !this.script.continueOnFailure) stop = true;
      }
    } finally {
      await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => {})));
    }
    return { file: this.script.file, name: this.script.name, url: this.url, steps: results, ms: performance.now() - started };
  }

  async step(step: Step): Promise<StepResult> {
    const started = performance.now();
    let expectations: ExpectationResult[] = [];
    let failure: Failure | undefined;
    try {
      expectations = await this.execute(step);
    } catch (error) {
      if (error instanceof StepFailure) failure = { message: error.message, ...(error.diff ? { diff: error.diff } : {}) };
      else if (error instanceof TemplateError || error instanceof JsonFormError) failure = { message: error.message };
      else if (error instanceof CapsyncError) failure = { message: `${error.code}: ${error.message}` };
      else throw error;
    }
    const passed = failure === undefined && expectations.every((e) => e.passed);
    return {
      index: step.index,
      label: label(step),
      line: step.line,
      status: passed ? 'passed' : 'failed',
      ms: performance.now() - started,
      expectations,
      ...(failure ? { failure } : {}),
    };
  }

  /** Runs a step; returns its expectations' results, or throws a {@link StepFailure}. */
  async execute(step: Step): Promise<ExpectationResult[]> {
    const timeout = 'timeout' in step && step.timeout !== undefined ? step.timeout : this.timeout;
    switch (step.kind) {
      case 'connect': {
        let outcome: Outcome = { ok: true, value: null };
        for (const name of step.clients) {
          outcome = await this.connect(name, timeout);
          if (!outcome.ok) break;
        }
        return this.settle(step, outcome);
      }
      case 'disconnect':
        for (const name of step.clients) {
          await this.connected(name).close();
          this.clients.delete(name);
        }
        return [];
      case 'call': {
        const client = this.connected(step.client);
        const args = step.args.map((a, i) => this.value(a, `argument ${i + 1}`));
        return this.settle(step, await attempt(() => client.request((c) => c.call(step.function, ...args), timeout)));
      }
      case 'narrow': {
        const from = this.capability(step.from, 'from');
        const suffix = this.value(step.suffix, 'suffix') as JsonValue[];
        const audience = step.audience === undefined ? undefined : this.resolve(step.audience);
        if (audience !== undefined && typeof audience !== 'string') throw new StepFailure(`audience must be a user id (a string), got ${show(audience)}`);
        const expiresAt = step.expiresAt ?? (step.expiresInMs === undefined ? undefined : Date.now() + step.expiresInMs);
        this.saved.set(step.save, from.narrow(suffix, { ...(expiresAt !== undefined ? { expiresAt } : {}), ...(audience !== undefined ? { audience } : {}) }));
        return [];
      }
      case 'forge':
        this.saved.set(step.save, this.forge(step.scope, step.signatureOf));
        return [];
      case 'delegate': {
        const client = this.connected(step.client);
        const cap = this.capability(step.cap, 'cap');
        const to = this.resolve(step.to);
        if (typeof to !== 'string') throw new StepFailure(`to must be a user id (a string), got ${show(to)}`);
        return this.settle(step, await attempt(() => client.request((c) => c.delegate(cap, { to, bearer: step.bearer }), timeout)));
      }
      case 'revoke': {
        const client = this.connected(step.client);
        const cap = this.capability(step.cap, 'cap');
        return this.settle(step, await attempt(() => client.request((c) => c.revoke(cap), timeout)));
      }
      case 'presence': {
        const client = this.connected(step.client);
        return this.settle(step, await attempt(() => client.request((c) => c.presence(), timeout)));
      }
      case 'wait':
        return this.wait(step, timeout);
      case 'send':
        return this.send(step, timeout);
      case 'check':
        return checkAll(step.expect, { ok: true, value: this.resolve(step.value) }, this.resolver);
      case 'quiet':
        return this.quiet(step.client, step.ms, step.for, timeout);
      case 'let':
        for (const [name, value] of Object.entries(step.values)) this.saved.set(name, this.value(value, name));
        return [];
    }
  }

  // ---- steps ----

  async connect(name: string, timeout: number): Promise<Outcome> {
    if (this.clients.get(name)?.closed === false) throw new StepFailure(`client "${name}" is already connected`);
    const spec = this.script.clients[name]!;
    const url = spec.url === undefined ? this.url : socketUrl(String(this.resolve(spec.url)));
    return attempt(async () => {
      let token = spec.token === undefined ? undefined : String(this.resolve(spec.token));
      if (spec.login !== undefined) token = (await devLogin(url, spec.login, timeout, spec.as === undefined ? undefined : String(this.resolve(spec.as)))).token;
      try {
        const client = await ScriptClient.connect(url, token, timeout);
        this.clients.set(name, client);
        return client.user;
      } catch (error) {
        if (error instanceof CapsyncError && error.code === 'ERR_NOT_CONNECTED') {
          throw new CapsyncError('ERR_NOT_CONNECTED', `cannot connect to ${url}: ${error.message} (is the server running? give its URL with --url)`);
        }
        throw error;
      }
    });
  }

  async wait(step: Extract<Step, { kind: 'wait' }>, timeout: number): Promise<ExpectationResult[]> {
    const client = this.connectedOrClosed(step.client);
    const pattern = step.hasMatch ? toJsonForm(this.resolve(step.match), false) : undefined;
    const event = await client.take([step.for], (e) => pattern === undefined || mismatch(pattern, e.form) === null, timeout);
    if (event === undefined) {
      const others = client.inbox.filter((e) => e.kind === step.for);
      const closed = client.closed && step.for !== 'close' ? ' (the connection closed)' : '';
      const what = `no ${step.for}${pattern === undefined ? '' : ' matching the pattern'} within ${timeout} ms${closed}`;
      if (pattern !== undefined && others.length > 0) {
        throw new StepFailure(`${what}; ${others.length} other ${step.for}${others.length === 1 ? '' : 's'} arrived, the first differs`, patternDiff(pattern, others[0]!.form));
      }
      const received = client.inbox.map((e) => `  received: ${e.kind} ${truncate(JSON.stringify(e.form), 100)}`);
      throw new StepFailure(what, received.length ? received.slice(0, 10) : undefined);
    }
    const results = checkAll(step.expect, { ok: true, value: event.value }, this.resolver, event);
    if (step.save !== undefined) this.saved.set(step.save, event.value);
    return results;
  }

  async send(step: Extract<Step, { kind: 'send' }>, timeout: number): Promise<ExpectationResult[]> {
    const client = this.connected(step.client);
    let data: Uint8Array | string;
    let replyId: number | null = null;
    if ('hex' in step.payload) {
      const hex = this.resolve(step.payload.hex);
      if (typeof hex !== 'string') throw new StepFailure(`hex must be a string, got ${show(hex)}`);
      data = parseHex(hex);
      replyId = requestIdOf(client.tryDecode(data));
    } else if ('text' in step.payload) {
      data = String(this.resolve(step.payload.text));
    } else {
      // Encoded as written, without the client's checks: a hostile frame must reach the server as the script says.
      const frame = this.resolve(step.payload.frame);
      data = encodeRawFrame(frame);
      replyId = requestIdOf(frame);
    }
    const awaitReply = step.expect.length > 0 || step.save !== undefined;
    const results: ExpectationResult[] = [];
    for (let n = 1; n <= step.repeat; n++) {
      client.sendRaw(data, replyId);
      if (!awaitReply) continue;
      const reply = await client.take(['reply', 'error'], (e) => e.kind === 'error' || replyId === null || e.value['id'] === replyId, timeout);
      if (reply === undefined) {
        const closed = client.closed ? ` (the connection closed: ${JSON.stringify(client.inbox.find((e) => e.kind === 'close')?.form ?? null)})` : '';
        throw new StepFailure(`no reply${step.repeat > 1 ? ` to frame ${n} of ${step.repeat}` : ''} within ${timeout} ms${closed}`);
      }
      const outcome = replyOutcome(reply);
      if (step.save !== undefined && outcome.ok) this.saved.set(step.save, outcome.value);
      const checked = checkAll(step.expect, outcome, this.resolver);
      const failed = checked.find((e) => !e.passed);
      if (failed || n === step.repeat) {
        const suffix = step.repeat > 1 ? ` (reply ${n} of ${step.repeat})` : '';
        results.push(...checked.map((e) => ({ ...e, label: e.label + suffix })));
        break;
      }
    }
    return results;
  }

  async quiet(name: string, ms: number, kinds: readonly EventKind[], timeout: number): Promise<ExpectationResult[]> {
    const client = this.connected(name);
    const label = `nothing received within ${ms} ms${kinds.length < 7 ? ` (${kinds.join(', ')})` : ''}`;
    const received = (): ReceivedEvent[] => client.inbox.filter((e) => kinds.includes(e.kind));
    // A round trip first: whatever the server sent before it has arrived, so "nothing" is not just "not yet".
    if (received().length === 0) {
      try {
        await client.roundTrip(timeout);
      } catch (error) {
        if (!(error instanceof CapsyncError)) throw error;
        // A closed connection receives nothing, but that proves nothing: unless closing is what this step counts.
        if (received().length === 0) return [{ label, passed: false, failure: { message: `the round trip failed: ${error.code}: ${error.message}` } }];
      }
    }
    if (received().length === 0) await client.take(kinds, () => false, ms).catch(() => undefined);
    const got = received();
    if (got.length === 0) return [{ label, passed: true }];
    return [
      {
        label,
        passed: false,
        failure: {
          message: `received ${got.length} event${got.length === 1 ? '' : 's'}`,
          diff: got.slice(0, 10).map((e) => `+ ${e.kind} ${truncate(JSON.stringify(e.form), 120)}`),
        },
      },
    ];
  }

  // ---- expectations ----

  /** Checks a step's outcome: without expectations it must have succeeded. Saves its value when asked. */
  settle(step: Step & { expect: readonly Expectation[]; save: string | undefined }, outcome: Outcome): ExpectationResult[] {
    if (step.expect.length === 0 && !outcome.ok) throw new StepFailure(`failed with ${outcome.code}: ${outcome.message}`);
    if (step.save !== undefined && outcome.ok) this.saved.set(step.save, outcome.value);
    return checkAll(step.expect, outcome, this.resolver);
  }

  // ---- values ----

  resolve(value: unknown): unknown {
    return resolveTemplates(value, this.scope);
  }

  /** A script value with templates resolved and JSON forms turned into capabilities and portable objects. */
  value(value: unknown, where: string): unknown {
    return fromJsonForm(this.resolve(value), where);
  }

  capability(value: unknown, where: string): Capability {
    const cap = this.value(value, where);
    if (!(cap instanceof Capability)) throw new StepFailure(`${where} must be a capability, got ${show(cap)}`);
    return cap;
  }

  /** A capability made here: unsigned (the server says forged), or with another one's signature (bad signature). */
  forge(rawScope: readonly unknown[], signatureOf: unknown): Capability {
    const scope = this.value(rawScope, 'scope') as JsonValue[];
    if (signatureOf === undefined) return forgeCapability(scope);
    return forgeCapability(scope, { signatureOf: this.capability(signatureOf, 'signatureOf') });
  }

  connected(name: string): ScriptClient {
    const client = this.clients.get(name);
    if (client === undefined) throw new StepFailure(`client "${name}" is not connected (connect it in an earlier step)`);
    if (client.closed) throw new StepFailure(`client "${name}"'s connection is closed`);
    return client;
  }

  /** Waiting may look at a closed connection: its last events and the close itself are still there. */
  connectedOrClosed(name: string): ScriptClient {
    const client = this.clients.get(name);
    if (client === undefined) throw new StepFailure(`client "${name}" is not connected (connect it in an earlier step)`);
    return client;
  }
}

async function attempt(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    if (error instanceof CapsyncError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}

function show(value: unknown): string {
  return truncate(JSON.stringify(toJsonForm(value)), 80);
}

function skipped(step: Step): StepResult {
  return { index: step.index, label: label(step), line: step.line, status: 'skipped', ms: 0, expectations: [] };
}

