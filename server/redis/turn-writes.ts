import { randomUUID } from 'node:crypto';
import { fail } from '../../protocol/errors.js';
import { runScript, type RedisConnection } from './connection.js';
import type { ReplicaWait } from './wait-replicas.js';

/** A write of the turn script: put, delete or call commit (see `TURN` in scripts.ts). */
export type TurnOp = 'p' | 'd' | 'c';

type Arg = string | Buffer | number;

interface Queued {
  readonly op: TurnOp;
  readonly args: readonly Arg[];
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** How a Redis store groups the writes of one event-loop turn into scripts (`RedisOptions.writes`). */
export interface TurnWritesOptions {
  /** Writes per script at most; a turn with more sends several scripts, pipelined. Default 256. */
  readonly maxWrites?: number;
  /** Argument bytes per script at most (states are the bulk), likewise. Default 1 MiB. */
  readonly maxBytes?: number;
  /**
   * How long a script that Redis did not answer (its connection closed, the Cluster down or failing over, a
   * replica where the master was) is sent again, with the same id, before its writes fail (ms). Default
   * 10,000; 0 fails them at once. A resend is answered from the kept reply if the first one ran (see `TURN`),
   * so no write runs twice: during a failover or a slot move the writes wait instead of failing.
   */
  readonly retryMs?: number;
}

/**
 * Errors after which a turn script is sent again: Redis, or the master of the slot, was out of reach or
 * changing hands, so the script may or may not have run. A reply from the script itself (a write refused)
 * is not among them, nor a replica count that `waitReplicas` did not reach (the write stays unacknowledged),
 * nor a command timeout (`commandTimeoutMs` already bounds how long a command waits for Redis to come back).
 */
const TRANSIENT = /Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|LOADING|Connection is closed|WAIT cannot be used with replica|no master known|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT/;

/** True if a turn script that failed with `error` may be sent again (see {@link TRANSIENT}). */
export function isTransient(error: unknown): boolean {
  return error instanceof Error && TRANSIENT.test(error.message);
}

/** The wait before attempt `attempt + 1` of a command that failed transiently: 50 ms, doubling, at most 1 s. */
function backoff(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1000);
}

/**
 * Runs `command` (a read, or anything else that may run twice), and again after each transient failure
 * ({@link isTransient}) until `retryMs` have passed since the first attempt or `closed()` holds; then fails as it did.
 */
export async function retrying<T>(command: () => Promise<T>, retryMs: number, closed: () => boolean = () => false): Promise<T> {
  const since = performance.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await command();
    } catch (error) {
      const delay = backoff(attempt);
      if (!isTransient(error) || closed() || performance.now() - since + delay > retryMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * @internal Group commit of a Redis store's writes: every put, delete and call commit issued in one
 * event-loop turn (until `setImmediate`, after every socket read of the turn) goes to Redis as one `TURN`
 * script. Each write stays one atomic step of its own inside it (its state, version, change seq and
 * publication together), in the order they were issued, and each is answered only when Redis replies to
 * the script, which under `appendfsync always` it does after the AOF fsync that covers them all.
 *
 * Why, measured (bench:cluster prints it): RedisConnection fsyncs once per event-loop iteration, so writes already
 * share an fsync whenever they reach it in one read; what a script per write costs is Redis CPU per write
 * (a Lua call, a reply) and a socket write each on the node. Nothing is held back for it: a turn's writes
 * leave at the turn's end, whether or not an earlier turn's script is still in flight.
 */
export class TurnWrites {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #maxWrites: number;
  readonly #maxBytes: number;
  readonly #wait: ReplicaWait | undefined;
  readonly #retryMs: number;
  #closed = false;
  #queue: Queued[] = [];
  #scheduled = false;
  /** Script ids are this, a colon and a count: unique across nodes and runs, so a resend is told apart from a new script. */
  readonly #id = randomUUID();
  /** Scripts sent so far and the writes they carried (what the bench reads). */
  scripts = 0;
  writes = 0;
  /** Scripts sent again after a transient failure. */
  retries = 0;

  /** `wait`: each script is answered only once it has reached the replicas (`RedisOptions.waitReplicas`). */
  constructor(redis: RedisConnection, prefix: string, options: TurnWritesOptions = {}, wait?: ReplicaWait) {
    this.#redis = redis;
    this.#wait = wait;
    this.#prefix = prefix;
    this.#maxWrites = options.maxWrites ?? 256;
    this.#maxBytes = options.maxBytes ?? 1 << 20;
    this.#retryMs = options.retryMs ?? 10_000;
  }

  /** The store closed: a script that fails from now on fails its writes at once (none is sent again). */
  close(): void {
    this.#closed = true;
  }

  /** Queues a write for the end of this turn; resolves with its script's reply (as the single-write script gives it). */
  write(op: TurnOp, args: readonly Arg[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, args, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let start = 0; start < queue.length; ) {
      let end = start;
      let bytes = 0;
      while (end < queue.length && end - start < this.#maxWrites && (end === start || bytes < this.#maxBytes)) bytes += size(queue[end++]!.args);
      this.#send(queue.slice(start, end));
      start = end;
    }
  }

  #send(batch: Queued[]): void {
    this.scripts++;
    const args: Arg[] = [this.#prefix, `${this.#id}:${this.scripts}`];
    for (const q of batch) args.push(q.op, q.args.length, ...q.args);
    this.writes += batch.length;
    this.#run(batch, args, performance.now(), 0);
  }

  /** Runs one script (again, after a transient failure: the same id, so it writes at most once). */
  #run(batch: Queued[], args: readonly Arg[], since: number, attempt: number): void {
    const sent = runScript(this.#redis, 'capsyncTurn', args, true);
    (this.#wait === undefined ? sent : this.#wait.after(sent)).then(
      (reply) => {
        const replies = reply as [number, unknown][];
        batch.forEach((q, i) => {
          const [ok, value] = replies[i] ?? [0, Buffer.from('no reply for this write')];
          if (ok === 1) q.resolve(value);
          else q.reject(fail('ERR_STORE_UNAVAILABLE', `Redis refused a write: ${String(value)}`));
        });
      },
      (error: unknown) => {
        const delay = backoff(attempt);
        if (isTransient(error) && !this.#closed && performance.now() - since + delay <= this.#retryMs) {
          this.retries++;
          setTimeout(() => this.#run(batch, args, since, attempt + 1), delay);
          return;
        }
        for (const q of batch) q.reject(error);
      },
    );
  }
}

function size(args: readonly Arg[]): number {
  let bytes = 0;
  for (const a of args) bytes += typeof a === 'number' ? 8 : a.length;
  return bytes;
}
