import type { Codec, CodecContext } from '../protocol/codec.js';
import { CapsyncError, fail, isErrorCode } from '../protocol/errors.js';
import { resultFrameAround, resultFrameInPlace } from '../protocol/frames.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { Clock, Logger } from './options.js';
import type { CallClaim, CallOutcome, CallRecord, CallRef, ObjectStore } from './store/types.js';

/** What a keyed call's outcome is stored as: the value, or the error the caller got. */
type Outcome = { ok: unknown } | { error: { code: string; message: string } };

/** Options of {@link CallKeys}. */
export interface CallKeysOptions {
  readonly store: ObjectStore;
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long an outcome is kept for a repeated key when the client does not acknowledge it, ms. */
  readonly windowMs: number;
}

/**
 * A keyed call this process runs: from its claim until its outcome is in the store. It is also what the
 * store is given, as the claim and then as the outcome ({@link CallClaim}, {@link CallOutcome}): one object
 * per call instead of one per step.
 */
class Running implements CallClaim, CallOutcome, PromiseLike<unknown> {
  /** When the claim may be dropped (set when it goes to the store). */
  expiresAt = 0;
  /** The stored outcome's bytes, once the call finished. */
  outcome: Uint8Array = EMPTY;
  /** Whether the answer rejects the call (the function failed). */
  failed = false;
  /** What the call is answered with (or failed with, when `failed`) once the outcome is stored. */
  answer: unknown = undefined;
  /** 0 while running, then 1 answered with a value, 2 failed. */
  #state: 0 | 1 | 2 = 0;
  #result: unknown = undefined;
  // The first listener in fields, the rare others (a repeat that joined, an await) in a list: no Promise
  // and no closures per call.
  #listener: CallListener<never> | undefined;
  #context: unknown;
  #more: [CallListener<never>, unknown][] | undefined;

  constructor(
    readonly principal: string,
    readonly key: string,
    readonly owner: string,
    readonly user: string | null,
    readonly run: () => unknown,
  ) {}

  /**
   * Tells `listener` the call's answer once, with `context`: now if it is known, else when it is. The
   * listener must not throw (the session's request runner never does).
   */
  listen<C>(listener: CallListener<C>, context: C): void {
    if (this.#state !== 0) tell(listener, context, this.#state, this.#result);
    else if (this.#listener === undefined) {
      this.#listener = listener as CallListener<never>;
      this.#context = context;
    } else (this.#more ??= []).push([listener as CallListener<never>, context]);
  }

  /** The call as a promise, for callers other than the session's request runner. */
  then<A = unknown, B = never>(onValue?: ((value: unknown) => A | PromiseLike<A>) | null, onError?: ((error: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return new Promise<unknown>((yes, no) => this.listen(toPromise, { yes, no })).then(onValue, onError);
  }

  resolve(value: unknown): void {
    this.#settle(1, value);
  }

  reject(error: unknown): void {
    this.#settle(2, error);
  }

  #settle(state: 1 | 2, result: unknown): void {
    if (this.#state !== 0) return;
    this.#state = state;
    this.#result = result;
    const listener = this.#listener;
    const context = this.#context as never;
    const more = this.#more;
    this.#listener = this.#context = this.#more = undefined;
    if (listener !== undefined) tell(listener, context, state, result);
    if (more !== undefined) for (const [l, c] of more) tell(l, c as never, state, result);
  }
}

/** What is told a keyed call's answer ({@link KeyedCall.listen}): one object for many calls, each with its context. */
export interface CallListener<C> {
  value(context: C, value: unknown): void;
  error(context: C, error: unknown): void;
}

function tell<C>(listener: CallListener<C>, context: C, state: 1 | 2, result: unknown): void {
  if (state === 1) listener.value(context, result);
  else listener.error(context, result);
}

const toPromise: CallListener<{ yes: (value: unknown) => void; no: (error: unknown) => void }> = {
  value: (c, value) => c.yes(value),
  error: (c, error) => c.no(error),
};

const EMPTY = new Uint8Array(0);

/**
 * A keyed call in flight, as {@link CallKeys.run} returns it: a thenable (awaiting it costs a promise), or,
 * for the session's request runner, {@link KeyedCall.listen}, which costs none.
 */
export type KeyedCall = Pick<Running, 'listen' | 'then'>;

/** Whether `value` is a {@link KeyedCall}. */
export function isKeyedCall(value: unknown): value is KeyedCall {
  return value instanceof Running;
}

/**
 * A keyed call's value packed once, for its stored outcome and its answer alike: what the call's promise
 * resolves to when the value holds no capability or portable object (whose bytes would depend on the
 * connection they go to). The session sends a result frame around these bytes instead of packing the value again.
 */
export class PackedValue {
  /** Whether the outcome's buffer still holds its `{ ok: ` prefix (no answer was written over it yet). */
  #fresh = true;

  /**
   * @param buffer the stored outcome's bytes, `{ ok: value }`: this process's own once the outcome is
   *   committed (the store keeps a copy).
   * @param start where the value starts in it.
   */
  constructor(
    readonly buffer: Uint8Array,
    readonly start: number,
  ) {}

  /** The value's bytes. */
  get bytes(): Uint8Array {
    return this.buffer.subarray(this.start);
  }

  /**
   * The result frame for request `id` around the value: the first one written over the outcome's prefix
   * (no copy), any later one (a repeat that joined the call) a copy, so a frame already handed to a
   * transport is never changed. Undefined for an id past 32 bits.
   */
  frame(id: number): Uint8Array | undefined {
    if (this.#fresh) {
      const frame = resultFrameInPlace(id, this.buffer, this.start);
      if (frame !== undefined) {
        this.#fresh = false;
        return frame;
      }
    }
    return resultFrameAround(id, this.bytes);
  }
}

/**
 * How many bytes msgpackr's `{ ok: value }` takes before the value: a one-entry map, as a map16 header
 * (0xde 0x00 0x01, what msgpackr writes for a plain object) or a fixmap (0x81), then the key "ok"
 * (0xa2 0x6f 0x6b). 0 for any other layout (the answer is then encoded on its own).
 */
function okPrefixLength(bytes: Uint8Array): number {
  let at: number;
  if (bytes[0] === 0xde && bytes[1] === 0x00 && bytes[2] === 0x01) at = 3;
  else if (bytes[0] === 0x81) at = 1;
  else return 0;
  return bytes[at] === 0xa2 && bytes[at + 1] === 0x6f && bytes[at + 2] === 0x6b ? at + 3 : 0;
}

/**
 * The keyed calls of one principal running in this process: the first in a field, since a client mostly has
 * one call in flight at a time, and the others in a map. A Map emptied by a delete is shrunk (a runtime call
 * in V8), and one principal's only call ending emptied its map on every call.
 */
class RunningCalls {
  #one: Running | undefined = undefined;
  #more: Map<string, Running> | undefined = undefined;

  get(key: string): Running | undefined {
    const one = this.#one;
    return one !== undefined && one.key === key ? one : this.#more?.get(key);
  }

  add(entry: Running): void {
    if (this.#one === undefined) this.#one = entry;
    else (this.#more ??= new Map()).set(entry.key, entry);
  }

  remove(entry: Running): void {
    if (this.#one === entry) this.#one = undefined;
    else if (this.#more?.get(entry.key) === entry) this.#more.delete(entry.key);
  }

  /** Drops an empty map; true if no call is running. */
  sweep(): boolean {
    if (this.#more?.size === 0) this.#more = undefined;
    return this.#one === undefined && this.#more === undefined;
  }
}

/** At most this often a commit also drops the records past their window (ms). */
const PRUNE_EVERY_MS = 60_000;

/**
 * Calls that run at most once per key: the client gives every call a key and re-sends a call that was in
 * flight when its connection dropped; the server claims the key in the store before running the function,
 * keeps its outcome until the client acknowledges it (or for a window, so it survives a restart), and
 * answers a repeated key from it.
 *
 * Group commit: the claims, outcomes and acknowledgements gathered in one event-loop turn go to the store
 * as one {@link ObjectStore.commitCalls} (one transaction, one fsync on SQLite), and one commit is in flight
 * at a time, so a slower store takes bigger batches instead of more writes. The order of events per call:
 * 1. its claim is committed; only then does the function run (a crash before: it never ran, and the repeat
 *    runs it);
 * 2. its outcome is committed; only then is the answer sent (so every answer a client can have seen is in
 *    the store, and a repeat gets that answer);
 * 3. a crash between 1 and 2 leaves a claim with no outcome: the function may or may not have taken effect,
 *    and a repeat fails with `ERR_CALL_OUTCOME_UNKNOWN` rather than running it again;
 * 4. the client acknowledges the keys whose answers it received (on its next call frame), and the next
 *    commit drops those records; records never acknowledged are dropped after the window.
 */
export class CallKeys {
  /** This server run: a claim from another run with no outcome was interrupted. */
  readonly owner: string;
  readonly #options: CallKeysOptions;
  /** Keyed calls running in this process, by principal then key, so a repeat that arrives meanwhile joins the first. */
  readonly #running = new Map<string, RunningCalls>();
  /** Outcomes encode capabilities signed, never as handles or holdings of any connection. */
  readonly #context: CodecContext;
  #claims: Running[] = [];
  #finished: Running[] = [];
  #forget: CallRef[] = [];
  #scheduled = false;
  /** The commit in flight, if any. */
  #committing: Promise<void> | undefined;
  #prunedAt: number;

  constructor(options: CallKeysOptions) {
    this.#options = options;
    this.owner = randomId();
    this.#context = { verifier: options.verifier };
    this.#prunedAt = options.clock.now();
  }

  /**
   * Runs `run` once for `(principal, key)`: its result (or error) now, or the stored outcome of an earlier
   * run. `principal` scopes keys to a caller, so one user can never read another's outcome; `user` is the
   * caller's user id, against which capabilities in a stored outcome are checked again.
   */
  run(principal: string, user: string | null, key: string, run: () => unknown): KeyedCall {
    let calls = this.#running.get(principal);
    const running = calls?.get(key);
    if (running !== undefined) return running;
    const entry = new Running(principal, key, this.owner, user, run);
    if (calls === undefined) this.#running.set(principal, (calls = new RunningCalls()));
    calls.add(entry);
    this.#claims.push(entry);
    this.#schedule();
    return entry;
  }

  /**
   * The client of `principal` has received the answers of `keys`: their records go with the next commit.
   * A key still running here is kept (its answer cannot have been received yet).
   */
  acknowledge(principal: string, keys: readonly string[]): void {
    const calls = this.#running.get(principal);
    for (const key of keys) if (calls?.get(key) === undefined) this.#forget.push({ principal, key });
    if (keys.length > 0) this.#schedule();
  }

  /** Drops outcomes past their window. */
  prune(): Promise<number> {
    this.#sweep();
    return this.#options.store.pruneCalls(this.#options.clock.now());
  }

  /**
   * Commits what is pending now and waits for every commit in flight: a server that closes stores the
   * outcomes of the calls that finished, so their repeats after a restart get them, not
   * `ERR_CALL_OUTCOME_UNKNOWN`. Calls still running are not waited for.
   */
  async drain(): Promise<void> {
    while (this.#committing !== undefined || this.#pending) {
      if (this.#committing === undefined) this.#commit();
      await this.#committing;
    }
  }

  get #pending(): boolean {
    return this.#claims.length > 0 || this.#finished.length > 0 || this.#forget.length > 0;
  }

  /** At the end of this turn (setImmediate: after every socket read of it), unless a commit is in flight. */
  #schedule(): void {
    if (this.#scheduled || this.#committing !== undefined) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#committing === undefined) this.#commit();
    });
  }

  #commit(): void {
    if (!this.#pending) return;
    const claims = this.#claims;
    const finished = this.#finished;
    const forget = this.#forget;
    this.#claims = [];
    this.#finished = [];
    this.#forget = [];
    const { store, clock, windowMs, logger } = this.#options;
    const now = clock.now();
    let pruneBefore: number | undefined;
    if (now - this.#prunedAt >= Math.min(PRUNE_EVERY_MS, windowMs)) {
      this.#prunedAt = pruneBefore = now;
      this.#sweep();
    }
    const expiresAt = now + windowMs;
    for (const c of claims) c.expiresAt = expiresAt;
    let committed: Promise<(CallRecord | undefined)[]>;
    try {
      committed = store.commitCalls(pruneBefore === undefined ? { outcomes: finished, forget, claims } : { outcomes: finished, forget, pruneBefore, claims });
    } catch (error) {
      committed = Promise.reject(error);
    }
    this.#committing = committed.then(
      (found) => {
        this.#committed();
        for (const f of finished) this.#answer(f);
        for (let i = 0; i < claims.length; i++) this.#claimed(claims[i]!, found[i]);
        // Functions that answered synchronously have their outcomes now: commit them in this turn rather
        // than the next. Their clients wait for these answers before they call again, so waiting a turn
        // would add latency without gathering more into the commit.
        if (this.#committing === undefined && this.#finished.length > 0) this.#commit();
      },
      (error: unknown) => {
        this.#committed();
        logger.error({ event: 'store_error', err: error });
        // The outcomes are answered all the same (the client most likely gets them; a repeat would get
        // ERR_CALL_OUTCOME_UNKNOWN). The claims are not in the store, so their functions never run.
        for (const f of finished) this.#answer(f);
        for (const c of claims) {
          this.#end(c);
          c.reject(error);
        }
      },
    );
  }

  #committed(): void {
    this.#committing = undefined;
    if (this.#pending) this.#schedule();
  }

  /** The claim is committed: run the function, or answer from the record an earlier run left. */
  #claimed(entry: Running, existing: CallRecord | undefined): void {
    if (existing !== undefined) {
      this.#end(entry);
      if (existing.outcome === null) {
        entry.reject(fail('ERR_CALL_OUTCOME_UNKNOWN'));
        return;
      }
      try {
        entry.resolve(this.#replay(existing.outcome, entry.user));
      } catch (error) {
        entry.reject(error);
      }
      return;
    }
    let result: unknown;
    try {
      result = entry.run();
    } catch (error) {
      this.#failed(entry, error);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#finishOk(entry, value),
        (error: unknown) => this.#failed(entry, error),
      );
    } else {
      this.#finishOk(entry, result);
    }
  }

  /** Packs the value once: the stored outcome's bytes, and (if plain) the answer's after the outcome's prefix. */
  #finishOk(entry: Running, value: unknown): void {
    let bytes: Uint8Array;
    let answer = value;
    try {
      // No limit scan: the session scans the answer frame when it sends it, and a stored outcome that
      // cannot be decoded replays as ERR_FUNCTION_FAILED.
      const packed = this.#options.codec.encodeDetached({ ok: value }, this.#context);
      bytes = packed.bytes;
      const prefix = packed.plain ? okPrefixLength(bytes) : 0;
      if (prefix > 0) answer = new PackedValue(bytes, prefix);
    } catch {
      // The value cannot be sent either (the session answers ERR_FUNCTION_FAILED): keep that outcome.
      bytes = this.#options.codec.encode({ error: { code: 'ERR_FUNCTION_FAILED', message: 'server function returned a value that cannot be sent' } });
    }
    this.#queue(entry, bytes, false, answer);
  }

  #failed(entry: Running, error: unknown): void {
    const err = error instanceof CapsyncError ? error : fail('ERR_FUNCTION_FAILED');
    const outcome = this.#options.codec.encode({ error: { code: err.code, message: err.message } }, this.#context);
    this.#queue(entry, outcome, true, error);
  }

  /** Queues the outcome for the next commit; the answer goes out once it is stored. */
  #queue(entry: Running, outcome: Uint8Array, failed: boolean, answer: unknown): void {
    entry.outcome = outcome;
    entry.failed = failed;
    entry.answer = answer;
    this.#finished.push(entry);
    this.#schedule();
  }

  #answer(entry: Running): void {
    this.#end(entry);
    const answer = entry.answer;
    entry.answer = undefined;
    if (entry.failed) entry.reject(answer);
    else entry.resolve(answer);
  }

  /**
   * The call is no longer running here. Its principal's entry is kept even when this empties it: the
   * principal's next call (a client calls again once answered) refills it, so nothing is made and dropped
   * per call. Empty entries go with the next prune ({@link #sweep}).
   */
  #end(entry: Running): void {
    this.#running.get(entry.principal)?.remove(entry);
  }

  /** Drops the entries of principals with no call running here. */
  #sweep(): void {
    for (const [principal, calls] of this.#running) if (calls.sweep()) this.#running.delete(principal);
  }

  #replay(bytes: Uint8Array, user: string | null): unknown {
    // Decoded as from the wire: every capability is verified again (revoked or expired since shows as such).
    const outcome = this.#options.codec.decode(bytes, { verifier: this.#options.verifier, user }) as Outcome;
    if ('ok' in outcome) return outcome.ok;
    const { code, message } = outcome.error;
    throw new CapsyncError(isErrorCode(code) ? code : 'ERR_FUNCTION_FAILED', message);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
