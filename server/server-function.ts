import type { CallContext, Callable } from './registry.js';
import type { ArgumentsSchema, SchemaInput, SchemaOutput } from './schema.js';

/**
 * A server function declared once with its argument schema and result type, for
 * {@link CapsyncServer.callables}. The `~types` property exists only in the type: it carries what a client
 * sends (the schema's input) and gets back (the handler's awaited result) to a typed client, which reads it
 * structurally, so a browser bundle imports only the type, never the server.
 */
export interface ServerFunction<Args extends readonly unknown[] = readonly unknown[], Result = unknown> {
  /** The handler, called with the call context and the validated arguments. */
  readonly fn: Callable;
  /** The runtime check of the arguments; absent when the function was declared without a schema. */
  readonly args?: ArgumentsSchema | undefined;
  /** Types only, never set at runtime. */
  readonly '~types'?: DeclaredTypes<Args, Result> | undefined;
}

/** What a declared server function takes from a client and gives back (types only). */
export interface DeclaredTypes<Args extends readonly unknown[], Result> {
  /** The arguments a client passes (the schema's input). */
  readonly args: Args;
  /** What the call resolves to (the handler's awaited result). */
  readonly result: Result;
}

/**
 * Declares a server function with its argument schema: the handler's parameters are the schema's output, a
 * typed client's arguments its input, and the result what the handler resolves to. The schema stays the
 * server's runtime check (a mismatch is `ERR_BAD_ARGUMENTS`).
 *
 * @example
 * ```ts
 * export const functions = {
 *   rename_note: serverFunction(z.tuple([z.instanceof(Capability), z.string().max(200)]), async (ctx, cap, title) => {
 *     const [, id] = unwrapCapability(cap, ['notes', ANY, 'edit']);
 *     ...
 *     return ctx.server.live.put(note); // the new version: the client's call resolves to a number
 *   }),
 * };
 * server.callables(functions);
 * export type NotesApi = typeof functions; // client side: connect<NotesApi>(url, { token })
 * ```
 */
export function serverFunction<S extends ArgumentsSchema, R>(
  args: S,
  handler: (ctx: CallContext, ...args: Extract<SchemaOutput<S>, readonly unknown[]>) => R,
): ServerFunction<Extract<SchemaInput<S>, readonly unknown[]>, Awaited<R>>;
/** Declares a server function without a schema: its arguments are typed from the handler's parameters, unchecked at runtime. */
export function serverFunction<A extends readonly unknown[], R>(handler: (ctx: CallContext, ...args: A) => R): ServerFunction<A, Awaited<R>>;
export function serverFunction(first: ArgumentsSchema | Callable, handler?: Callable): ServerFunction {
  if (typeof first === 'function') return { fn: first };
  return { fn: handler as Callable, args: first };
}

/**
 * The call signatures of a set of server functions (`{ name: (...args) => result }`), for clients that want
 * an interface to read or to write by hand. A typed client accepts either this or `typeof functions` itself.
 */
export type FunctionSignatures<F> = {
  [K in keyof F]: F[K] extends ServerFunction<infer A, infer R> ? (...args: A) => R : never;
};
