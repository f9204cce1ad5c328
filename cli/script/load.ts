import { basename } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { CapsyncErrorCode } from '../../protocol/errors.js';
import { z } from 'zod';
import { parseHex } from '../json-form.js';
import { ScriptError, explainIssues, isRecord, suggest, valueAt, type Path, type Problem } from './problems.js';
import { actionNames, actions, connectLong, eventKinds, expectStepForms, expectationSchemas, scriptHeader, type ActionName, type EventKind } from './schema.js';
import type { ClientSpec, Expectation, Script, Step } from './steps.js';
import { TemplateError, builtinRoots, referencesIn } from './template.js';

export { ScriptError, type Problem } from './problems.js';

const DEFAULT_TIMEOUT = 5_000;
const MAX_PROBLEMS = 20;

/**
 * Parses and validates a script (YAML, or JSON, which YAML reads too). Throws a {@link ScriptError} naming
 * the line and step of every problem found: syntax, shape (zod), unknown clients, and references to names
 * no earlier step saves.
 */
export function parseScript(file: string, text: string): Script {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScriptError(
      file,
      doc.errors.slice(0, MAX_PROBLEMS).map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return { line: pos.line, column: pos.col, where: 'syntax', message: e.message.split('\n')[0]! };
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
  return new Validator(file, doc, lines, raw).run();
}

class Validator {
  readonly problems: Problem[] = [];

  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
    readonly raw: unknown,
  ) {}

  run(): Script {
    if (!isRecord(this.raw)) {
      this.report([], 'a script is a map with `clients` and `steps` (see docs/scripts.md)');
      throw new ScriptError(this.file, this.problems);
    }
    const header = this.check([], z.strictObject({ ...scriptHeader, steps: z.array(z.unknown()).min(1) }), this.raw, 'script');
    const rawSteps = Array.isArray(this.raw['steps']) ? (this.raw['steps'] as unknown[]) : [];
    const clients: Record<string, ClientSpec> = {};
    if (header) {
      for (const [name, spec] of Object.entries(header.clients)) {
        if (spec.login !== undefined && spec.token !== undefined) this.report(['clients', name, 'token'], 'give a client either `login` or `token`, not both');
        this.references(['clients', name], spec, new Set());
        if (spec.as !== undefined && spec.login === undefined) this.report(['clients', name, 'as'], '`as` goes with `login`: it names the id to log in under');
        clients[name] = { login: spec.login, as: spec.as, token: spec.token, url: spec.url };
      }
    }
    const steps: Step[] = [];
    rawSteps.forEach((rawStep, i) => {
      const step = this.step(i, rawStep);
      if (step) steps.push(step);
    });
    // Cross-references are checked even when the header has problems: report everything at once.
    const declared = header ? Object.keys(clients) : isRecord(this.raw['clients']) ? Object.keys(this.raw['clients']) : [];
    this.crossCheck(steps, new Set(declared));
    if (this.problems.length > 0) {
      const sorted = [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column);
      throw new ScriptError(this.file, sorted.slice(0, MAX_PROBLEMS));
    }
    return {
      file: this.file,
      name: header?.name ?? basename(this.file),
      url: header?.url,
      timeout: header?.timeout ?? DEFAULT_TIMEOUT,
      continueOnFailure: header?.continueOnFailure ?? false,
      imports: header?.import ?? [],
      clients,
      steps,
    };
  }

  // ---- steps ----

  step(i: number, raw: unknown): Step | undefined {
    const path = ['steps', i];
    if (!isRecord(raw)) {
      this.report(path, `a step is a map with one action (${actionNames.join(', ')}), e.g. "- call: {...}"`);
      return undefined;
    }
    const keys = Object.keys(raw);
    const found = keys.filter((k): k is ActionName => (actionNames as string[]).includes(k));
    for (const key of keys) {
      if (key !== 'name' && !found.includes(key as ActionName)) {
        this.report([...path, key], `unknown step "${key}"${suggest(key, actionNames)}; a step is one of ${actionNames.join(', ')}`, true);
      }
    }
    if (raw['name'] !== undefined && typeof raw['name'] !== 'string') this.report([...path, 'name'], '`name` must be a string');
    const name = typeof raw['name'] === 'string' ? raw['name'] : undefined;
    if (found.length === 0) {
      if (keys.every((k) => k === 'name')) this.report(path, `a step needs an action: one of ${actionNames.join(', ')}`);
      return undefined;
    }
    if (found.length > 1) {
      this.report([...path, found[1]!], `a step has one action, this one has ${found.join(' and ')}: split it into ${found.length} steps`, true);
      return undefined;
    }
    const action = found[0]!;
    const base = { index: i + 1, name, line: this.locate(path).line };
    const at = [...path, action];
    const body = raw[action];
    switch (action) {
      case 'connect': {
        if (typeof body === 'string' || Array.isArray(body)) {
          const v = this.check(at, actions.disconnect, body, 'connect');
          return v === undefined ? undefined : { ...base, kind: 'connect', clients: typeof v === 'string' ? [v] : v, expect: [], save: undefined, timeout: undefined };
        }
        if (!isRecord(body)) {
          this.report(at, '`connect` takes a client name, a list of names, or {client, expect, save, timeout}');
          return undefined;
        }
        const v = this.check(at, connectLong, body, action);
        const expect = this.expectations([...at, 'expect'], isRecord(body) ? body['expect'] : undefined);
        return v && expect && { ...base, kind: 'connect', clients: [v.client], expect, save: v.save, timeout: v.timeout };
      }
      case 'disconnect': {
        const v = this.check(at, actions.disconnect, body, action);
        return v === undefined ? undefined : { ...base, kind: 'disconnect', clients: typeof v === 'string' ? [v] : v };
      }
      case 'call': {
        const v = this.check(at, actions.call, body, action);
        const expect = this.expectations([...at, 'expect'], v?.expect);
        return v && expect && { ...base, kind: 'call', client: v.client, function: v.function, args: v.args ?? [], expect, save: v.save, timeout: v.timeout };
      }
      case 'narrow': {
        const v = this.check(at, actions.narrow, body, action);
        if (v && v.expiresAt !== undefined && v.expiresInMs !== undefined) this.report([...at, 'expiresAt'], 'give `expiresInMs` or `expiresAt`, not both');
        return v && { ...base, kind: 'narrow', from: v.from, suffix: v.suffix ?? [], expiresInMs: v.expiresInMs, expiresAt: v.expiresAt, audience: v.audience, save: v.save };
      }
      case 'forge': {
        const v = this.check(at, actions.forge, body, action);
        return v && { ...base, kind: 'forge', scope: v.scope, signatureOf: v.signatureOf, save: v.save };
      }
      case 'delegate': {
        const v = this.check(at, actions.delegate, body, action);
        const expect = this.expectations([...at, 'expect'], v?.expect);
        return v && expect && { ...base, kind: 'delegate', client: v.client, cap: v.cap, to: v.to, bind: v.bind ?? false, bearer: v.bearer ?? false, expect, save: v.save, timeout: v.timeout };
      }
      case 'revoke': {
        const v = this.check(at, actions.revoke, body, action);
        const expect = this.expectations([...at, 'expect'], v?.expect);
        return v && expect && { ...base, kind: 'revoke', client: v.client, cap: v.cap, expect, save: v.save, timeout: v.timeout };
      }
      case 'presence': {
        const v = this.check(at, actions.presence, body, action);
        const expect = this.expectations([...at, 'expect'], v?.expect);
        return v && expect && { ...base, kind: 'presence', client: v.client, expect, save: v.save, timeout: v.timeout };
      }
      case 'wait': {
        const v = this.check(at, actions.wait, body, action);
        const expect = this.expectations([...at, 'expect'], v?.expect);
        const hasMatch = isRecord(body) && Object.hasOwn(body, 'match');
        return v && expect && { ...base, kind: 'wait', client: v.client, for: v.for, match: v.match, hasMatch, expect, save: v.save, timeout: v.timeout };
      }
      case 'send':
        return this.send(base, at, body);
      case 'expect':
        return this.expectStep(base, at, body);
      case 'let': {
        const v = this.check(at, actions.let, body, action);
        if (v && Object.keys(v).length === 0) this.report(at, '`let` needs at least one name: value');
        return v && { ...base, kind: 'let', values: body as Record<string, unknown> };
      }
    }
  }

  send(base: { index: number; name: string | undefined; line: number }, at: Path, body: unknown): Step | undefined {
    const v = this.check(at, actions.send, body, 'send');
    const expect = this.expectations([...at, 'expect'], v?.expect);
    if (!v || !expect || !isRecord(body)) return undefined;
    const given = (['hex', 'frame', 'text'] as const).filter((k) => Object.hasOwn(body, k));
    if (given.length !== 1) {
      this.report(at, given.length === 0 ? '`send` needs one of `hex`, `frame` or `text`' : `\`send\` takes one of \`hex\`, \`frame\` or \`text\`, not ${given.join(' and ')}`);
      return undefined;
    }
    if (v.hex !== undefined && !v.hex.includes('${')) {
      try {
        parseHex(v.hex);
      } catch (error) {
        this.report([...at, 'hex'], (error as Error).message);
      }
    }
    const payload = v.hex !== undefined ? { hex: v.hex } : v.text !== undefined ? { text: v.text } : { frame: v.frame };
    return { ...base, kind: 'send', client: v.client, payload, repeat: v.repeat ?? 1, expect, save: v.save, timeout: v.timeout };
  }

  expectStep(base: { index: number; name: string | undefined; line: number }, at: Path, body: unknown): Step | undefined {
    if (isRecord(body) && (Object.hasOwn(body, 'nothing') || Object.hasOwn(body, 'client'))) {
      const v = this.check(at, expectStepForms.nothing, body, 'expect');
      if (!v) return undefined;
      const kinds: EventKind[] = v.for === undefined ? [...eventKinds] : Array.isArray(v.for) ? v.for : [v.for];
      return { ...base, kind: 'quiet', client: v.client, ms: v.nothing, for: kinds };
    }
    const schema = isRecord(body) && Object.hasOwn(body, 'match') ? expectStepForms.match : expectStepForms.equals;
    if (isRecord(body) && !Object.hasOwn(body, 'value')) {
      this.report(at, '`expect` takes {value, equals} or {value, match} to check a saved value, or {client, nothing: ms} for silence');
      return undefined;
    }
    const v = this.check(at, schema, body, 'expect') as { value: unknown; equals?: unknown; match?: unknown } | undefined;
    if (!v || !isRecord(body)) return undefined;
    const expect: Expectation[] = Object.hasOwn(body, 'match') ? [{ kind: 'match', pattern: v.match }] : [{ kind: 'equals', value: v.equals }];
    return { ...base, kind: 'check', value: v.value, expect };
  }

  /** Validates `expect:` (one expectation or a list), choosing the form by its key for a precise message. */
  expectations(path: Path, raw: unknown): Expectation[] | undefined {
    if (raw === undefined) return [];
    const list = Array.isArray(raw) ? raw : [raw];
    if (Array.isArray(raw) && raw.length === 0) {
      this.report(path, '`expect` needs at least one expectation');
      return undefined;
    }
    const out: Expectation[] = [];
    let ok = true;
    list.forEach((item, i) => {
      const at = Array.isArray(raw) ? [...path, i] : path;
      const kinds = isRecord(item) ? (['equals', 'match', 'error'] as const).filter((k) => Object.hasOwn(item, k)) : [];
      if (kinds.length !== 1) {
        const hint = kinds.length > 1 ? `, not ${kinds.join(' and ')} together (use a list for several)` : '';
        this.report(at, `an expectation is {equals: value}, {match: pattern} or {error: ERR_...}${hint}`);
        ok = false;
        return;
      }
      const kind = kinds[0]!;
      const v = this.check(at, expectationSchemas[kind], item, 'expect') as Record<string, unknown> | undefined;
      if (!v) {
        ok = false;
        return;
      }
      if (kind === 'equals') out.push({ kind, value: v['equals'] });
      else if (kind === 'match') out.push({ kind, pattern: v['match'] });
      else out.push({ kind, code: v['error'] as CapsyncErrorCode });
    });
    return ok ? out : undefined;
  }

  // ---- references between steps ----

  crossCheck(steps: readonly Step[], clients: ReadonlySet<string>): void {
    const saved = new Set<string>();
    const connected = new Set<string>();
    for (const step of steps) {
      const at = ['steps', step.index - 1, actionOf(step)];
      const named = (client: string, field: string | number | undefined = 'client') => {
        if (!clients.has(client)) {
          this.report(field === undefined ? at : [...at, field], `no client "${client}" in \`clients\`${suggest(client, [...clients])}`);
          return false;
        }
        return true;
      };
      switch (step.kind) {
        case 'connect':
          step.clients.forEach((c, i) => {
            const form = this.rawAt(at);
            if (named(c, typeof form === 'string' ? undefined : Array.isArray(form) ? i : 'client')) connected.add(c);
          });
          break;
        case 'disconnect':
          step.clients.forEach((c, i) => named(c, Array.isArray(this.rawAt(at)) ? i : undefined));
          break;
        case 'narrow':
        case 'forge':
        case 'check':
        case 'let':
          break;
        default:
          if (named(step.client) && !connected.has(step.client)) {
            this.report([...at, 'client'], `client "${step.client}" is used before any step connects it (add "- connect: ${step.client}" before)`);
          }
      }
      this.references(at, this.rawAt(at), saved);
      if (step.kind === 'let') for (const name of Object.keys(step.values)) saved.add(name);
      else if ('save' in step && step.save !== undefined) saved.add(step.save);
    }
  }

  /** Reports malformed templates and references to names not saved yet, at the field holding them. */
  references(path: Path, value: unknown, saved: ReadonlySet<string>): void {
    if (typeof value === 'string') {
      let refs;
      try {
        refs = referencesIn(value);
      } catch (error) {
        if (error instanceof TemplateError) this.report(path, error.message);
        return;
      }
      for (const ref of refs) {
        if (!builtinRoots.has(ref.root) && !saved.has(ref.root)) {
          const known = saved.size ? ` (saved so far: ${[...saved].join(', ')})` : ' (no step before saves anything)';
          this.report(path, `${ref.source} refers to "${ref.root}", which no earlier step saves${suggest(ref.root, [...saved])}${known}`);
        }
      }
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => this.references([...path, i], v, saved));
    else if (isRecord(value)) for (const key of Object.keys(value)) if (key !== 'save') this.references([...path, key], value[key], saved);
  }

  // ---- zod issues to problems ----

  check<T extends z.ZodType>(path: Path, schema: T, value: unknown, what: string): z.infer<T> | undefined {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const p of explainIssues(path, result.error.issues, what, value)) this.report(p.path, p.message, p.atKey);
    return undefined;
  }

  // ---- positions ----

  report(path: Path, message: string, atKey = false): void {
    const pos = this.locate(path, atKey);
    this.problems.push({ line: pos.line, column: pos.col, where: this.where(path), message });
  }

  /** The position of the node at `path` (or of its key), or of the nearest ancestor that exists. */
  locate(path: Path, atKey = false): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let offset = (node as Node | null)?.range?.[0] ?? 0;
    for (const [i, segment] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment));
        if (pair === undefined) break;
        const last = i === path.length - 1;
        if (last && atKey && isScalar(pair.key) && pair.key.range) {
          offset = pair.key.range[0];
          break;
        }
        node = pair.value;
        const range = (node as Node | null)?.range ?? (isScalar(pair.key) ? pair.key.range : undefined);
        if (range) offset = range[0];
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        const range = (node as Node | undefined)?.range;
        if (!range) break;
        offset = range[0];
      } else break;
    }
    return this.lines.linePos(offset);
  }

  where(path: Path): string {
    if (path[0] === 'steps' && typeof path[1] === 'number') {
      const raw = Array.isArray(this.raw) ? undefined : valueAt(this.raw, ['steps', path[1]]);
      const name = isRecord(raw) && typeof raw['name'] === 'string' ? ` "${raw['name']}"` : '';
      const action = isRecord(raw) ? Object.keys(raw).find((k) => (actionNames as string[]).includes(k)) : undefined;
      return `step ${path[1] + 1}${name}${action ? ` (${action})` : ''}`;
    }
    if (path[0] === 'clients' && path[1] !== undefined) return `clients.${String(path[1])}`;
    return 'script';
  }

  rawAt(path: Path): unknown {
    return valueAt(this.raw, path as (string | number)[]);
  }
}

function actionOf(step: Step): ActionName {
  if (step.kind === 'quiet' || step.kind === 'check') return 'expect';
  return step.kind;
}

