import type { Codec, CodecContext } from '../protocol/codec.js';
import { CapsyncError, fail, isErrorCode } from '../protocol/errors.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { Clock, Logger } from './options.js';
import type { ObjectStore } from './store/types.js';

/** What a keyed call's outcome is stored as: the value, or the error the caller got. */
type Outcome = { ok: unknown } | { error: { code: string; message: string } };

/** Options of {@link CallKeys}. */
export interface CallKeysOptions {
  readonly store: ObjectStore;
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long an outcome is kept for a repeated key, ms. */
  readonly windowMs: number;
}

/**
 * Calls that run at most once per key: the client gives every call a key and re-sends a call that was in
 * flight when its connection dropped; the server claims the key in the store before running the function,
 * keeps its outcome for a window (so it survives a restart), and answers a repeated key from it.
 *
 * A key claimed by a server run that is gone (a crash between claim and outcome) has no outcome anyone
 * can know: the repeat fails with `ERR_CALL_OUTCOME_UNKNOWN` rather than running the function again.
 */
export class CallKeys {
  /** This server run: a claim from another run with no outcome was interrupted. */
  readonly owner: string;
  readonly #options: CallKeysOptions;
  /** Keyed calls running in this process, so a repeat that arrives meanwhile joins the first. */
  readonly #running = new Map<string, Promise<unknown>>();
  /** Outcomes encode capabilities signed, never as handles or holdings of any connection. */
  readonly #context: CodecContext;

  constructor(options: CallKeysOptions) {
    this.#options = options;
    this.owner = randomId();
    this.#context = { verifier: options.verifier };
  }

  /**
   * Runs `run` once for `(principal, key)`: its result (or error) now, or the stored outcome of an earlier
   * run. `principal` scopes keys to a caller, so one user can never read another's outcome; `user` is the
   * caller's user id, against which capabilities in a stored outcome are checked again.
   */
  run(principal: string, user: string | null, key: string, run: () => unknown): Promise<unknown> {
    const id = `${principal.length}:${principal}${key}`;
    const running = this.#running.get(id);
    if (running !== undefined) return running;
    const promise = this.#claimAndRun(principal, user, key, run).finally(() => this.#running.delete(id));
    this.#running.set(id, promise);
    return promise;
  }

  /** Drops outcomes past their window. */
  prune(): Promise<number> {
    return this.#options.store.pruneCalls(this.#options.clock.now());
  }

  async #claimAndRun(principal: string, user: string | null, key: string, run: () => unknown): Promise<unknown> {
    const { store, clock, windowMs } = this.#options;
    const existing = await store.claimCall(principal, key, this.owner, clock.now() + windowMs);
    if (existing !== undefined) {
      if (existing.outcome === null) throw fail('ERR_CALL_OUTCOME_UNKNOWN');
      return this.#replay(existing.outcome, user);
    }
    let outcome: Outcome;
    try {
      outcome = { ok: await run() };
    } catch (error) {
      const err = error instanceof CapsyncError ? error : fail('ERR_FUNCTION_FAILED');
      outcome = { error: { code: err.code, message: err.message } };
      await this.#record(principal, key, outcome);
      throw error;
    }
    await this.#record(principal, key, outcome);
    return outcome.ok;
  }

  async #record(principal: string, key: string, outcome: Outcome): Promise<void> {
    let bytes: Uint8Array;
    try {
      // No limit scan: the session scans the same value when it answers, and a stored outcome that cannot
      // be decoded replays as ERR_FUNCTION_FAILED.
      bytes = this.#options.codec.encode(outcome, this.#context);
    } catch {
      // The value cannot be sent either (the session answers ERR_FUNCTION_FAILED): keep that outcome.
      bytes = this.#options.codec.encode({ error: { code: 'ERR_FUNCTION_FAILED', message: 'server function returned a value that cannot be sent' } });
    }
    try {
      await this.#options.store.finishCall(principal, key, bytes);
    } catch (error) {
      this.#options.logger.error({ event: 'store_error', err: error });
    }
  }

  #replay(bytes: Uint8Array, user: string | null): unknown {
    // Decoded as from the wire: every capability is verified again (revoked or expired since shows as such).
    const outcome = this.#options.codec.decode(bytes, { verifier: this.#options.verifier, user }) as Outcome;
    if ('ok' in outcome) return outcome.ok;
    const { code, message } = outcome.error;
    throw new CapsyncError(isErrorCode(code) ? code : 'ERR_FUNCTION_FAILED', message);
  }
}

function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
