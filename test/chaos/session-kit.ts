import { firstValueFrom, filter, timeout, type Observable } from 'rxjs';
import { connect, type CapsyncClient, type Change, type ConnectOptions } from '../../client/index.js';
import type { Frame } from '../../protocol/frames.js';
import { FrameType } from '../../protocol/frames.js';
import type { ServerProcess } from './server-process.js';

/** Backoff short enough that a test's reconnects take milliseconds, still jittered as in production. */
export const fastReconnect = { baseDelayMs: 20, maxDelayMs: 250 } as const;

/**
 * A reconnecting client (the default behaviour, with a fast backoff) of `user` at `url`. Its token comes
 * from the server's dev login at every (re)connect, so it keeps working across restarts that change the secret.
 */
export function reconnectingClient(url: string, server: ServerProcess, user: string, options: ConnectOptions = {}): Promise<CapsyncClient> {
  return connect(url, { token: () => server.token(user), reconnect: fastReconnect, callTimeoutMs: 20_000, connectTimeoutMs: 3_000, ...options });
}

/**
 * The first value of `source` that satisfies `predicate`; rejects with `what` after `limitMs` (a failure
 * guard, never a synchronisation: the value is awaited as an event).
 */
export function when<T>(source: Observable<T>, predicate: (value: T) => boolean, what: string, limitMs = 10_000): Promise<T> {
  return firstValueFrom(
    source.pipe(
      filter(predicate),
      timeout({ first: limitMs, with: () => Promise.reject(new Error(`${what}: not within ${limitMs} ms`)) }),
    ),
  );
}

/** Resolves once `client.connectionState` is `state` (at once if it is now). */
export function state(client: CapsyncClient, wanted: string, limitMs = 10_000): Promise<unknown> {
  return when(client.connectionState, (s) => s === wanted, `connectionState ${wanted}`, limitMs);
}

/** A push as a client received it, in arrival order. */
export interface ReceivedPush {
  readonly address: readonly unknown[];
  readonly version: number;
  readonly deleted: boolean;
  /** The pushed state (nil when deleted). */
  readonly state: Readonly<Record<string, unknown>> | null;
  /** The connection state when it arrived: pushes of a resume's catch-up arrive while `reconnecting`. */
  readonly during: string;
}

/** Records every push frame a client receives, across its connections, until {@link stop}. */
export class PushLog {
  readonly pushes: ReceivedPush[] = [];
  readonly changes: Change[] = [];
  readonly #stops: (() => void)[] = [];

  constructor(readonly client: CapsyncClient) {
    const frames = client.frames.subscribe((frame: Frame) => {
      if (frame[0] !== FrameType.push) return;
      const [, address, , version, state] = frame as unknown as [number, unknown[], string, number, Record<string, unknown> | null];
      this.pushes.push({ address, version, deleted: state === null, state, during: client.connectionState.value });
    });
    const changes = client.changes.subscribe((c) => this.changes.push(c));
    this.#stops.push(() => frames.unsubscribe(), () => changes.unsubscribe());
  }

  /** Pushes for the object whose address ends with `id` (the demo's videos are `['youtube_videos', id]`). */
  of(id: string): ReceivedPush[] {
    return this.pushes.filter((p) => p.address[1] === id);
  }

  /** Stops recording. */
  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
  }
}

/** What a call settled as: its value, or its error code. */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string };

/** Settles `call` without rejecting. */
export function settled<T>(call: Promise<T>): Promise<Settled<T>> {
  return call.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, code: (error as { code?: string }).code ?? String(error) }),
  );
}
