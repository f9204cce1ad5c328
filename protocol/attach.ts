import { fail } from './errors.js';

/** Something that can call server functions: a connected client session. */
export interface ServerCaller {
  /** Calls the server function `name` with `args`. */
  call(name: string, ...args: unknown[]): Promise<unknown>;
}

const callers = new WeakMap<object, ServerCaller>();

/** @internal The client attaches its session to every portable object it decodes. */
export function attach(object: object, caller: ServerCaller): void {
  callers.set(object, caller);
}

/**
 * Calls a server function from a portable object's method, through the session the object arrived on
 * (Anvil's `anvil.server.call` inside a portable class).
 *
 * @example
 * ```ts
 * class Video {
 *   set_description(text: string) { return callServer(this, 'set_video_description', this.cap, text); }
 * }
 * ```
 */
export function callServer<T = unknown>(object: object, name: string, ...args: unknown[]): Promise<T> {
  const caller = callers.get(object);
  if (caller === undefined) return Promise.reject(fail('ERR_NOT_ATTACHED'));
  return caller.call(name, ...args) as Promise<T>;
}
