/**
 * Typed calls: a client given the server's function types (`typeof functions` from `serverFunction`
 * declarations, or an interface of call signatures written by hand, as Socket.IO's event maps are) checks the
 * name, the arguments and the result of every `call` at compile time. Nothing here exists at runtime: a typed
 * client is the same {@link CapsyncClient}, and the server's schemas stay the runtime check.
 */
import type { CapsyncClient } from './client.js';

/** What the server's `serverFunction` declares, read structurally so the client never imports server code. */
interface DeclaredFunction<Args extends readonly unknown[], Result> {
  readonly '~types'?: { readonly args: Args; readonly result: Result } | undefined;
}

/**
 * The names of the callable functions of `Api`: each property that is a call signature or a declared
 * server function.
 */
export type FunctionName<Api> = {
  [K in keyof Api & string]: Api[K] extends (...args: never) => unknown ? K : Api[K] extends DeclaredFunction<readonly unknown[], unknown> ? K : never;
}[keyof Api & string];

/** The arguments a client passes to the function `K` of `Api` (after the server's call context). */
export type FunctionArgs<Api, K extends keyof Api> = Api[K] extends (...args: infer A) => unknown
  ? A
  : Api[K] extends DeclaredFunction<infer A, unknown>
    ? A
    : never;

/** What a call of the function `K` of `Api` resolves to. */
export type FunctionResult<Api, K extends keyof Api> = Api[K] extends (...args: never) => infer R
  ? Awaited<R>
  : Api[K] extends DeclaredFunction<readonly unknown[], infer R>
    ? Awaited<R>
    : never;

/**
 * A {@link CapsyncClient} whose `call` is checked against `Api`: an unknown name, a wrong argument or a wrong
 * use of the result is a type error. Everything else is the client's own.
 *
 * @example
 * ```ts
 * import type { NotesApi } from './server/functions.js'; // type only: no server code in the bundle
 * const client = await connect<NotesApi>(url, { token });
 * const version: number = await client.call('rename_note', note.cap, 'Groceries');
 * ```
 */
export type TypedClient<Api> = Omit<CapsyncClient, 'call'> & {
  /** Calls the server function `name` with arguments and result typed from `Api` (see {@link CapsyncClient.call}). */
  call<K extends FunctionName<Api>>(name: K, ...args: FunctionArgs<Api, K> & readonly unknown[]): Promise<FunctionResult<Api, K>>;
};
