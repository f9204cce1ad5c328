import { BehaviorSubject, Observable } from 'rxjs';
import { backoffDelay, type BackoffOptions } from './backoff.js';

/**
 * Where a client's session stands:
 * - `connecting`: the first connection is being made (`connect()` has not resolved);
 * - `connected`: the server's hello arrived and, after a reconnect, the resume was answered (the client is
 *   caught up);
 * - `reconnecting`: the connection dropped; the client is waiting to retry, or retrying;
 * - `closed`: for good (the app closed it, a terminal close code, or reconnecting is off).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** An Observable of a state whose current value is readable at any time (`state.value`). */
export class StateObservable<T> extends Observable<T> {
  readonly #subject: BehaviorSubject<T>;

  /** Reads from `subject`: subscribers get the current value, then every change. */
  constructor(subject: BehaviorSubject<T>) {
    super((subscriber) => subject.subscribe(subscriber));
    this.#subject = subject;
  }

  /** The current state. */
  get value(): T {
    return this.#subject.value;
  }
}

/** The browser's `online` event source, if this platform has one (Node has none). */
interface OnlineEvents {
  addEventListener(type: 'online', listener: () => void): void;
  removeEventListener(type: 'online', listener: () => void): void;
}

function onlineEvents(): OnlineEvents | undefined {
  const target = globalThis as Partial<OnlineEvents>;
  return typeof target.addEventListener === 'function' && typeof target.removeEventListener === 'function' ? (target as OnlineEvents) : undefined;
}

/**
 * When to try the next connection: after a backoff with full jitter ({@link backoffDelay}), growing with
 * every failed attempt and reset by a successful one, or at once when the browser says it is online again
 * (waiting out a 20 s backoff after the Wi-Fi came back would be the client's fault).
 */
export class Reconnector {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  readonly #attempt: () => void;
  readonly #events = onlineEvents();
  readonly #online = () => this.#now();
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** `attempt` opens one connection; it reports back through {@link schedule} or {@link succeeded}. */
  constructor(options: BackoffOptions, random: () => number, attempt: () => void) {
    this.#options = options;
    this.#random = random;
    this.#attempt = attempt;
    this.#events?.addEventListener('online', this.#online);
  }

  /** True while a retry is waiting for its delay. */
  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  /** The connection dropped or an attempt failed: tries again after the next backoff delay. */
  schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    const delay = backoffDelay(this.#failures++, this.#options, this.#random);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#attempt();
    }, delay);
  }

  /** A connection is back: the next drop starts from the first delay again. */
  succeeded(): void {
    this.#failures = 0;
  }

  /** No more attempts (the client closed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#events?.removeEventListener('online', this.#online);
  }

  #now(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#attempt();
  }
}
