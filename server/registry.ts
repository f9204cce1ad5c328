import { CapsyncError, fail } from '../protocol/errors.js';
import type { Capability } from '../protocol/capability/capability.js';
import type { MintOptions } from '../protocol/verifier.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { User } from './auth.js';
import type { LiveObjects } from './live.js';
import type { ArgumentsSchema, SchemaIssue, SchemaResult } from './schema.js';

/** What server code may do with the server from inside a function: no plumbing, no sockets. */
export interface ServerApi {
  /** Live objects: store them and push their changes to every holder. */
  readonly live: LiveObjects;
  /**
   * A capability minted with the current key, verified for this server. Bound to every session it is sent
   * to (each gets its own bound child), unless `bearer: true`: then whoever holds its bytes can use it.
   */
  mint(scope: readonly JsonValue[], options?: MintOptions): Capability;
  /** Revokes a capability and everything narrowed from it, everywhere. */
  revoke(cap: Capability): Promise<{ revocationId: string }>;
  /** Revokes every capability the server ever sent to a user. Returns how many. */
  revokeUser(userId: string): Promise<number>;
  /** Revokes every capability one session was sent (Anvil's `reset_session`; `ctx.session.id`). Returns how many. */
  revokeSession(sessionId: string): Promise<number>;
  /** True when `cap` is a verified capability that still works now: not revoked, not expired (Anvil's `is_valid`). */
  isValid(cap: unknown): boolean;
}

/** What every server function receives first: the caller (Anvil's `get_user()`), its session and the server. */
export interface CallContext {
  /** The caller, or null on an anonymous session. */
  readonly user: User | null;
  /** The calling connection: its id (as in the logs) and when its session token expires. */
  readonly session: { readonly id: string; readonly tokenExpiresAt: number | null };
  /** What server code may do from here: live objects, mint, revoke. */
  readonly server: ServerApi;
}

/** A server function: the call context, then the arguments from the wire. */
export type Callable<A extends unknown[] = unknown[]> = (ctx: CallContext, ...args: A) => unknown;

/** Registration options. */
export interface CallableOptions {
  /**
   * A schema for the argument list (e.g. zod's `z.tuple([z.instanceof(Capability), z.string().max(5000)])`;
   * any Standard Schema). A mismatch is `ERR_BAD_ARGUMENTS`, whose message names the argument (0-based, as in
   * the issue path) and what was expected, e.g. "argument 1: expected string, received number"; never the value.
   */
  readonly args?: ArgumentsSchema | undefined;
}

const RESERVED = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);

/**
 * Server functions by name. Names from the wire are looked up in a `Map`, so `constructor`, `__proto__` or
 * any prototype member can never resolve to anything that was not registered.
 */
export class FunctionRegistry {
  readonly #functions = new Map<string, { fn: Callable; args?: ArgumentsSchema }>();

  /** Registers `fn` under `name`; a reserved or empty name is `ERR_FUNCTION_UNKNOWN`. */
  register(name: string, fn: Callable, options: CallableOptions = {}): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > 256 || RESERVED.has(name)) {
      throw fail('ERR_FUNCTION_UNKNOWN', `cannot register a server function named ${JSON.stringify(name)}`);
    }
    if (typeof fn !== 'function') throw fail('ERR_BAD_ARGUMENTS', 'a server function must be a function');
    this.#functions.set(name, { fn, ...(options.args ? { args: options.args } : {}) });
  }

  /** Whether a function is registered under `name`. */
  has(name: string): boolean {
    return this.#functions.has(name);
  }

  /**
   * Runs a function: returns its value or its promise; throws (synchronously) for unknown names and bad
   * arguments. A failure that is not a {@link CapsyncError} (a bug) comes out as a
   * {@link ServerFunctionError} naming the function, so the failed-call log line says which one it was.
   */
  invoke(name: string, ctx: CallContext, args: unknown[]): unknown {
    const entry = this.#functions.get(name);
    if (entry === undefined) throw fail('ERR_FUNCTION_UNKNOWN');
    if (!entry.args) return run(name, entry.fn, ctx, args);
    // zod validates synchronously unless a schema has async refinements; only then is this a promise.
    const outcome = entry.args['~standard'].validate(args);
    if (outcome instanceof Promise) return outcome.then((checked) => run(name, entry.fn, ctx, validated(checked, args.length)));
    return run(name, entry.fn, ctx, validated(outcome, args.length));
  }
}

function validated(outcome: SchemaResult<readonly unknown[]>, received: number): readonly unknown[] {
  if (outcome.issues) throw fail('ERR_BAD_ARGUMENTS', describeArgumentIssues(outcome.issues, received));
  if (!Array.isArray(outcome.value)) throw fail('ERR_FUNCTION_FAILED', 'the arguments schema did not produce a list');
  return outcome.value;
}

function run(name: string, fn: Callable, ctx: CallContext, args: readonly unknown[]): unknown {
  let result: unknown;
  try {
    result = fn(ctx, ...args);
  } catch (error) {
    throw named(name, error);
  }
  if (result instanceof Promise) return result.catch((error: unknown) => Promise.reject(named(name, error)));
  return result;
}

/**
 * A server function failed with something other than a {@link CapsyncError}: a bug. The caller sees only
 * `ERR_FUNCTION_FAILED`; the log gets this, with the function's name in `fn` and the original in `cause`.
 */
export class ServerFunctionError extends Error {
  /** Always `ServerFunctionError`. */
  override name = 'ServerFunctionError';
  /** The server function that failed. */
  readonly fn: string;

  constructor(fn: string, cause: unknown) {
    super(`server function ${JSON.stringify(fn)} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.fn = fn;
  }
}

function named(fn: string, error: unknown): unknown {
  return error instanceof CapsyncError ? error : new ServerFunctionError(fn, error);
}

/** A zod issue's extra fields, read when present (other schema libraries leave them out). */
interface BoundIssue extends SchemaIssue {
  readonly code?: unknown;
  readonly maximum?: unknown;
  readonly minimum?: unknown;
}

/**
 * The message of `ERR_BAD_ARGUMENTS`: where (argument index, then field path) and what was expected, from
 * the first issue. zod's messages name types and the schema's bounds, never the received value.
 */
export function describeArgumentIssues(issues: readonly BoundIssue[], received: number): string {
  const issue = issues[0];
  if (issue === undefined) return 'arguments do not have the expected shape';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  const [index, ...rest] = (issue.path ?? []).map((segment) => (typeof segment === 'object' && segment !== null ? segment.key : segment));
  if (index === undefined) {
    // The list itself: zod words a tuple's length bound as an array's ("expected array to have <2 items").
    if (issue.code === 'too_big') return `expected at most ${String(issue.maximum)} arguments, received ${received}${more}`;
    if (issue.code === 'too_small') return `expected at least ${String(issue.minimum)} arguments, received ${received}${more}`;
    return `arguments: ${expectation(issue.message)}${more}`;
  }
  const field = rest.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
  const where = typeof index === 'number' ? `argument ${index}${field}` : `arguments.${String(index)}${field}`;
  // A record's keys come from the caller: bound what is echoed back.
  return `${where.length > 100 ? `${where.slice(0, 100)}...` : where}: ${expectation(issue.message)}${more}`;
}

function expectation(message: string): string {
  const text = message.replace(/^Invalid input: /, '');
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
