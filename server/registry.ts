import type { ZodType } from 'zod';
import { fail } from '../protocol/errors.js';
import type { User } from './auth.js';
import type { CapsyncServer } from './server.js';
import type { ServerSession } from './session.js';

/** What every server function receives first: the caller (Anvil's `get_user()`), its session and the server. */
export interface CallContext {
  readonly user: User | null;
  readonly session: ServerSession;
  readonly server: CapsyncServer;
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
