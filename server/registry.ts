import type { ZodType } from 'zod';
import { fail } from '../protocol/errors.js';
import type { Capability, Restrictions } from '../protocol/capability/capability.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { User } from './auth.js';
import type { LiveObjects } from './live.js';

/** What server code may do with the server from inside a function: no plumbing, no sockets. */
export interface ServerApi {
  readonly live: LiveObjects;
  /** A capability minted with the current key, verified for this server. */
  mint(scope: readonly JsonValue[], restrictions?: Restrictions): Capability;
  /** Revokes a capability and everything narrowed from it, everywhere. */
  revoke(cap: Capability): Promise<{ revocationId: string }>;
  /** Revokes every capability the server ever sent to a user. Returns how many. */
  revokeUser(userId: string): Promise<number>;
}

/** What every server function receives first: the caller (Anvil's `get_user()`), its session and the server. */
export interface CallContext {
  readonly user: User | null;
  /** The calling connection: its id (as in the logs) and when its session token expires. */
  readonly session: { readonly id: string; readonly tokenExpiresAt: number | null };
  readonly server: ServerApi;
}

/** A server function: the call context, then the arguments from the wire. */
export type Callable<A extends unknown[] = unknown[]> = (ctx: CallContext, ...args: A) => unknown;

/** Registration options. */
export interface CallableOptions {
  /** A zod schema for the argument list (e.g. `z.tuple([z.instanceof(Capability), z.string().max(5000)])`); a mismatch is `ERR_BAD_ARGUMENTS`. */
  readonly args?: ZodType<unknown[]>;
}

const RESERVED = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);

/**
 * Server functions by name. Names from the wire are looked up in a `Map`, so `constructor`, `__proto__` or
 * any prototype member can never resolve to anything that was not registered.
 */
export class FunctionRegistry {
  readonly #functions = new Map<string, { fn: Callable; args?: ZodType<unknown[]> }>();

  register(name: string, fn: Callable, options: CallableOptions = {}): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > 256 || RESERVED.has(name)) {
      throw fail('ERR_FUNCTION_UNKNOWN', `cannot register a server function named ${JSON.stringify(name)}`);
    }
    if (typeof fn !== 'function') throw fail('ERR_BAD_ARGUMENTS', 'a server function must be a function');
    this.#functions.set(name, { fn, ...(options.args ? { args: options.args } : {}) });
  }

  has(name: string): boolean {
    return this.#functions.has(name);
  }

  /** Runs a function: returns its value or its promise; throws (synchronously) for unknown names and bad arguments. */
  invoke(name: string, ctx: CallContext, args: unknown[]): unknown {
    const entry = this.#functions.get(name);
    if (entry === undefined) throw fail('ERR_FUNCTION_UNKNOWN');
    let checked = args;
    if (entry.args) {
      const parsed = entry.args.safeParse(args);
      if (!parsed.success) throw fail('ERR_BAD_ARGUMENTS');
      checked = parsed.data;
    }
    return entry.fn(ctx, ...checked);
  }
}
