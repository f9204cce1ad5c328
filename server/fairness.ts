import { performance } from 'node:perf_hooks';
import { fail, type CapsyncError } from '../protocol/errors.js';

/** The budget of one connection: a token bucket over the frames it sends, and one over the time they cost. */
export interface FairnessOptions {
  /** Frames per second a connection may send on average (every frame counts: calls, pings, anything). */
  readonly callsPerSecond: number;
  /** Frames it may send at once after being quiet (the bucket's size). */
  readonly callBurst: number;
  /** A connection kept over its budget this long (its bucket never refilled) is closed with 4004. */
  readonly overBudgetCloseMs: number;
  /** Bytes of frames read but not yet admitted; past it the connection is closed with 4004 at once. */
  readonly maxQueuedBytes: number;
  /**
   * Milliseconds of the event loop per second that one connection's frames may take on average: the
   * synchronous handling of each frame (decode, verification, the call's dispatch), measured around it, and
   * the asynchronous part of its calls (a server function's awaited work, store commits, the answer),
   * charged when each call settles with the process time spent on it while it was in flight (see
   * {@link LoopShare}). Default unbounded. Frames are not alike: a call that mints capabilities costs a
   * hundred pings.
   */
  readonly serviceMsPerSecond?: number;
  /** Loop milliseconds one connection may take at once before the average applies. Default twice the rate. */
  readonly serviceBurstMs?: number;
  /**
   * Calls a connection may have in flight. At it, its next frame waits (the socket paused) until one of
   * them settles: the server holds, it does not refuse. Default unbounded.
   */
  readonly maxInFlight?: number;
  /**
   * Milliseconds one connection's frames may hold the event loop in one uninterrupted run (the frames of one
   * socket read, or one drain) before the rest wait for the next turn. Default {@link FAIR_SLICE_MS}.
   */
  readonly sliceMs?: number;
  /**
   * Loop milliseconds one connection's calls in flight may be expected to cost after their first turn, all
   * together: at it, its next frame waits (the socket paused, as at `maxInFlight`) until one settles. Calls
   * awaiting alike (one timer, one store commit) tend to finish in the same turn, so their continuations hold
   * the loop back to back, and no bucket can stop what has already started: this bounds that stall. A call's
   * expected cost is what the connection's recent calls cost; before any has settled, a new connection's
   * calls are taken to cost an eighth of this (so eight may start). At least one call may always be in
   * flight. Default {@link FAIR_IN_FLIGHT_MS}.
   */
  readonly maxInFlightMs?: number;
}

/**
 * The budget all the connections of one principal (a user) draw from, beside each connection's own: the
 * same two token buckets, over frames and over loop time, so that opening more sockets does not multiply a
 * user's share of the server.
 */
export interface SharedBudgetOptions {
  /** Frames per second the principal's connections may send together on average. */
  readonly callsPerSecond: number;
  /** Frames they may send at once after being quiet. */
  readonly callBurst: number;
  /** Loop milliseconds per second they may take together (frames and calls, charged as for a connection). Default unbounded. */
  readonly serviceMsPerSecond?: number;
  /** Loop milliseconds they may take at once. Default twice the rate. */
  readonly serviceBurstMs?: number;
}

/** {@link FairnessOptions.maxInFlightMs}'s default: a connection's calls finishing together hold the loop about this long at most. */
export const FAIR_IN_FLIGHT_MS = 16;

/** Calls a new connection may start before any has settled and shown what its calls cost. */
const FRESH_CALLS = 8;

/** {@link FairnessOptions.sliceMs}'s default: one socket's backlog delays another's frames by about this much at most. */
export const FAIR_SLICE_MS = 2;

/**
 * Two deliveries closer than this (ms) belong to one run: nothing else had the loop in between (ws emits the
 * frames of one socket read one after another, with only its own parsing between them).
 */
const SAME_RUN_MS = 0.05;

/** What an inbox does to its socket. */
export interface InboxIo {
  /** Hands an admitted frame to the session. */
  deliver(data: Buffer, isBinary: boolean): void;
  /** Stops reading from the socket (TCP backpressure reaches the sender) and resumes it. */
  pause(): void;
  resume(): void;
  /** Ends the connection (a persistent abuser). */
  close(error: CapsyncError): void;
}

/** What a session tells its connection's meter about each call that went asynchronous (server/session-requests.ts). */
export interface CallMeter {
  /** A call returned a promise; the mark is handed back to {@link settled}. */
  started(): number;
  /** That call settled and was answered. */
  settled(mark: number): void;
}

/**
 * The event loop's time, given to the calls in flight in this process, for charging the asynchronous part
 * of calls, which no clock read around a frame sees: a server function's awaited work, its store commits,
 * the answer's encoding. At each call going asynchronous and each settling, what the process spent since
 * the previous such event, less what was already charged to frames' synchronous handling, is given (the
 * clocks read for it: see the constructor):
 * - to the call that settles, when the interval ends with a settle: the work just before a call's answer
 *   is nearly always that call's own continuation (a server function runs from its last `await` to its
 *   return without yielding);
 * - evenly to every call in flight, when it ends with a call starting: work that finished no call (an
 *   awaited step in the middle of a function, timers, a fan-out) is shared by those who may have caused it.
 * A call settling is charged its own intervals and its shares. A connection with many calls cheap to start
 * and expensive to finish therefore pays for what they cost, while a bystander whose one call waited
 * behind them pays for its own continuation and a small share. An even split alone would have charged
 * that bystander a half of its neighbour's work whenever both had one call in flight. CPU time in the end,
 * not the wall clock: on a loaded machine the process is descheduled for tens of milliseconds at a time, and
 * with the wall clock (or the event loop's active time alone) the one call in flight then paid for the wait.
 */
export class LoopShare {
  readonly #active: () => number;
  readonly #quick: (() => number) | undefined;
  #calls = 0;
  /** Milliseconds each call in flight has been given as a share, cumulative since the process started. */
  #perCall = 0;
  #seen: number;
  /** Milliseconds charged to frames since the last event (not given again). */
  #charged = 0;
  /** With `quick`: its reading at the last event and at the last read of `active`. */
  #quickSeen = 0;
  #quickRead = 0;
  /** With `quick`: what was given and charged since the last read of `active`. */
  #owed = 0;

  /**
   * `active`: the process's CPU time, ms. `quick`, if given: a cheaper clock of the loop's busy time (the
   * event loop's active time, which also counts time the process was descheduled), read at each event
   * instead. `active` is read only when one interval of `quick` (from one event to the next) reaches
   * {@link TRUE_UP_MS}, or once `quick` has run {@link TRUE_UP_WINDOW_MS} past its last read; what `quick`
   * gave meanwhile beyond the CPU time is taken back from that interval's share. A descheduled stretch falls
   * in one interval (no event happens while the process is off the CPU): one of a millisecond or more is
   * charged as the CPU time it really was, a shorter one at most {@link TRUE_UP_MS}. Between calls that
   * cost microseconds, the CPU clock (`getrusage`, a system call that took 40-150 us of a loaded 2-CPU
   * machine's time per read in bench:peers, the costliest step of a keyed call) is read a few dozen times a
   * second rather than every millisecond.
   */
  constructor(active: () => number = cpuMs, quick?: () => number) {
    this.#active = active;
    this.#quick = quick;
    this.#seen = active();
    if (quick !== undefined) this.#quickSeen = this.#quickRead = quick();
  }

  /** Calls in flight (for tests and metrics). */
  get calls(): number {
    return this.#calls;
  }

  started(): number {
    const spare = this.#spare();
    if (this.#calls > 0) this.#perCall += spare / this.#calls;
    this.#calls++;
    return this.#perCall;
  }

  /** The loop milliseconds owed by the call that started with `mark`: its shares and the interval its settle ends. */
  settled(mark: number): number {
    const spare = this.#spare();
    this.#calls--;
    return this.#perCall - mark + spare;
  }

  /** Loop time already charged to a frame's synchronous handling. */
  charged(ms: number): void {
    this.#charged += ms;
  }

  /** The loop's busy time since the last event, less what frames were charged. */
  #spare(): number {
    const quickClock = this.#quick;
    if (quickClock !== undefined) {
      const quick = quickClock();
      if (quick - this.#quickSeen < TRUE_UP_MS && quick - this.#quickRead < TRUE_UP_WINDOW_MS) {
        const raw = quick - this.#quickSeen - this.#charged;
        const given = raw > 0 ? raw : 0;
        this.#owed += given + this.#charged;
        this.#quickSeen = quick;
        this.#charged = 0;
        return given;
      }
      const cpu = this.#active();
      const spare = cpu - this.#seen - this.#owed - this.#charged;
      this.#seen = cpu;
      this.#quickSeen = this.#quickRead = quick;
      this.#owed = 0;
      this.#charged = 0;
      return spare > 0 ? spare : 0;
    }
    const active = this.#active();
    const spare = active - this.#seen - this.#charged;
    this.#seen = active;
    this.#charged = 0;
    return spare > 0 ? spare : 0;
  }
}

/** The process's CPU time (user and system), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** An interval of {@link LoopShare}'s quick clock this long or longer is checked against the CPU clock, ms. */
const TRUE_UP_MS = 1;

/** How far {@link LoopShare}'s quick clock runs in intervals shorter than {@link TRUE_UP_MS} before the CPU clock is read anyway, ms. */
const TRUE_UP_WINDOW_MS = 50;

/** The event loop's active time (not waiting for I/O or timers), in ms: no system call, about 0.04 us. */
function loopActiveMs(): number {
  return performance.eventLoopUtilization().active;
}

// One function for every inbox and budget (a default `() => performance.now()` was a closure per connection).
const performanceNow = (): number => performance.now();

/** The process's one share: every connection's calls run on the same event loop. */
export const processLoopShare = new LoopShare(cpuMs, loopActiveMs);

/**
 * The two buckets one principal's connections share ({@link SharedBudgetOptions}). Each {@link FairInbox}
 * drawing from it refills it with the same clock before looking, charges it what it charges itself, and
 * waits while it is empty as it waits for its own buckets: over the shared budget, every connection of the
 * principal that sends is paused, and one kept paused for `overBudgetCloseMs` is closed with 4004.
 */
export class SharedBudget {
  readonly #options: SharedBudgetOptions;
  readonly serviceRate: number;
  readonly #serviceBurst: number;
  #tokens: number;
  #service: number;
  #refilledAt: number;
  /**
   * What the calls in flight of the principal's connections are expected to cost after their first turn, ms
   * ({@link FairnessOptions.maxInFlightMs} bounds it for the principal as for each connection).
   */
  inFlightMs = 0;
  /** When a refill last found both buckets full (a connection over budget since before it is forgiven). */
  fullAt: number;
  /** The principal it belongs to, and the connections drawing from it (see {@link SharedBudgets}). */
  readonly key: string;
  refs = 0;

  constructor(options: SharedBudgetOptions, now: number, key = '') {
    this.#options = options;
    this.key = key;
    this.serviceRate = options.serviceMsPerSecond ?? Infinity;
    this.#serviceBurst = options.serviceBurstMs ?? 2 * this.serviceRate;
    this.#tokens = options.callBurst;
    this.#service = this.#serviceBurst;
    this.#refilledAt = this.fullAt = now;
  }

  /** Frames left in the frame bucket (for tests and metrics). */
  get tokens(): number {
    return this.#tokens;
  }

  refill(now: number): void {
    const elapsed = now - this.#refilledAt;
    if (elapsed <= 0) return;
    const { callsPerSecond, callBurst } = this.#options;
    this.#tokens = Math.min(callBurst, this.#tokens + (elapsed * callsPerSecond) / 1000);
    if (this.serviceRate !== Infinity) this.#service = Math.min(this.#serviceBurst, this.#service + (elapsed * this.serviceRate) / 1000);
    this.#refilledAt = now;
    if (this.full()) this.fullAt = now;
  }

  /** True if one more frame may go. */
  left(): boolean {
    return this.#tokens >= 1 && this.#service > 0;
  }

  /** True if both buckets are full (the principal has been within its budget long enough to be forgiven). */
  full(): boolean {
    return this.#tokens >= this.#options.callBurst && this.#service >= this.#serviceBurst;
  }

  /** One frame sent. */
  frame(): void {
    this.#tokens--;
  }

  /** Loop milliseconds spent on the principal's behalf. */
  spend(ms: number): void {
    if (this.serviceRate !== Infinity) this.#service -= ms;
  }

  /** Milliseconds until {@link left} can be true again (0 if it is). */
  waitMs(): number {
    const frameMs = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) * 1000) / this.#options.callsPerSecond;
    const serviceMs = this.#service > 0 ? 0 : ((-this.#service + 0.01) * 1000) / this.serviceRate;
    return Math.max(frameMs, serviceMs);
  }

  /** Milliseconds until both buckets are full again. */
  fullInMs(): number {
    const frameMs = ((this.#options.callBurst - this.#tokens) * 1000) / this.#options.callsPerSecond;
    const serviceMs = this.serviceRate === Infinity ? 0 : ((this.#serviceBurst - this.#service) * 1000) / this.serviceRate;
    return Math.max(0, frameMs, serviceMs);
  }
}

/**
 * The shared budgets of one server, by principal. A budget outlives its principal's last connection until
 * it is full again, so closing every socket and opening new ones does not buy a fresh burst.
 */
export class SharedBudgets {
  readonly #options: SharedBudgetOptions;
  readonly #now: () => number;
  readonly #byKey = new Map<string, SharedBudget>();

  constructor(options: SharedBudgetOptions, now: () => number = performanceNow) {
    this.#options = options;
    this.#now = now;
  }

  /** Principals with a budget kept (for tests and metrics). */
  get size(): number {
    return this.#byKey.size;
  }

  /** The budget of `key`, for one more connection; {@link release} it when that connection closes. */
  acquire(key: string): SharedBudget {
    let budget = this.#byKey.get(key);
    if (budget === undefined) this.#byKey.set(key, (budget = new SharedBudget(this.#options, this.#now(), key)));
    budget.refs++;
    return budget;
  }

  /** A connection that drew from `budget` closed. */
  release(budget: SharedBudget): void {
    if (--budget.refs > 0) return;
    const key = budget.key;
    const now = this.#now();
    budget.refill(now);
    if (budget.full()) {
      this.#byKey.delete(key);
      return;
    }
    // Forgotten once it would be full again (unless a new connection took it meanwhile).
    const timer = setTimeout(() => {
      if (budget.refs === 0 && this.#byKey.get(key) === budget) this.#byKey.delete(key);
    }, Math.ceil(budget.fullInMs()) + 1);
    timer.unref?.();
  }
}


/**
 * Fair service for one connection: frames are admitted at the connection's budget, never faster. A frame
 * over budget is queued and the socket paused, so the sender's own TCP window fills and it waits; the
 * queue drains on a timer as the buckets refill. Whatever one connection sends, the server does at most its
 * budget of work for it per second, so it cannot starve the others. A connection with `maxInFlight` calls
 * running is held the same way until one settles. No connection holds the loop for longer than `sliceMs`
 * at a time: past it, the rest of what it sent waits for the next turn, after the other sockets' frames.
 * A connection whose buckets never refill (it keeps sending as fast as it is read) for `overBudgetCloseMs`,
 * or whose queue passes `maxQueuedBytes` (frames already read when the pause took effect), is closed with
 * `ERR_OVER_BUDGET` (4004). Waiting for its own calls to settle is not being over budget. A connection that
 * draws from a {@link SharedBudget} (its user's) is admitted only while that one has budget left too, and is
 * forgiven only once both are full: a user over its shared budget has each of its sending connections
 * paused, and closed like this.
 *
 * A frame's time is the wall clock around it (`performance.now`, read once per frame besides the read on
 * arrival, about 0.05 us): the time a frame held the event loop is the time nobody else was served. A
 * call's asynchronous part is CPU time ({@link LoopShare}).
 */
export class FairInbox implements CallMeter {
  readonly #options: FairnessOptions;
  readonly #now: () => number;
  readonly #io: InboxIo;
  readonly #share: LoopShare;
  readonly #serviceRate: number;
  readonly #serviceBurst: number;
  readonly #maxInFlight: number;
  readonly #sliceMs: number;
  readonly #maxInFlightMs: number;
  readonly #pool: SharedBudget | undefined;
  /** Whether anything is measured: a finite service rate of its own or of its pool. */
  readonly #measures: boolean;
  #tokens: number;
  /** Loop milliseconds left in the service bucket; a frame may leave it negative (a debt the refill repays). */
  #service: number;
  #refilledAt: number;
  // Made at the first frame: an idle connection keeps no array here.
  #queueMade: { data: Buffer; isBinary: boolean }[] | undefined;
  #queuedBytes = 0;
  #inFlight = 0;
  /** Since when the buckets have not been full (set when a frame first had to wait for budget). */
  #overSince: number | undefined;
  /** When the last delivery ended, and since when deliveries have run back to back. */
  #lastEnd = 0;
  #runStart = 0;
  /**
   * What the calls started in the current run are expected to cost once their first turn is over (their
   * continuations run right after the run): counted into the run's slice, so a run of frames that each
   * start a call that is cheap to start and costly to finish ends sooner.
   */
  #runAhead = 0;
  /** The loop milliseconds a call of this connection cost after its first turn, on average (recent calls weigh most). */
  #callCost = 0;
  /** A call has settled: {@link #callCost} is known (before, {@link #expectedCost} assumes). */
  #costKnown = false;
  /** What this connection's calls in flight add to its pool's {@link SharedBudget.inFlightMs}. */
  #pooled = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #paused = false;
  #closed = false;

  constructor(options: FairnessOptions, io: InboxIo, now: () => number = performanceNow, share: LoopShare = processLoopShare, pool?: SharedBudget) {
    this.#options = options;
    this.#io = io;
    this.#now = now;
    this.#share = share;
    this.#serviceRate = options.serviceMsPerSecond ?? Infinity;
    this.#serviceBurst = options.serviceBurstMs ?? 2 * this.#serviceRate;
    this.#maxInFlight = options.maxInFlight ?? Infinity;
    this.#sliceMs = options.sliceMs ?? FAIR_SLICE_MS;
    this.#maxInFlightMs = options.maxInFlightMs ?? FAIR_IN_FLIGHT_MS;
    this.#pool = pool;
    this.#measures = this.#serviceRate !== Infinity || (pool !== undefined && pool.serviceRate !== Infinity);
    this.#service = this.#serviceBurst;
    this.#tokens = options.callBurst;
    this.#refilledAt = now();
  }

  get #queue(): { data: Buffer; isBinary: boolean }[] {
    return (this.#queueMade ??= []);
  }

  /** Frames waiting for budget (for tests and metrics). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Calls of this connection in flight (for tests and metrics). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A frame read from the socket. */
  push(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#refill(now);
    if (this.#queue.length === 0 && this.#admits() && this.#inRun(now)) {
      this.#deliver(data, isBinary, now);
      return;
    }
    this.#queue.push({ data, isBinary });
    this.#queuedBytes += data.length;
    // Waiting for its own calls, or for the next turn, is not being over budget.
    if (!this.#budgetLeft()) this.#overSince ??= now;
    if (this.#queuedBytes > this.#options.maxQueuedBytes || (this.#overSince !== undefined && now - this.#overSince > this.#options.overBudgetCloseMs)) return this.#close();
    if (!this.#paused) {
      this.#paused = true;
      this.#io.pause();
    }
    this.#schedule();
  }

  started(): number {
    this.#inFlight++;
    if (this.#pool !== undefined && !this.#closed) this.#pooling();
    return this.#share.started();
  }

  /** Tells the pool what this connection's calls in flight are now expected to cost. */
  #pooling(): void {
    const pooled = this.#inFlight * this.#expectedCost();
    this.#pool!.inFlightMs += pooled - this.#pooled;
    this.#pooled = pooled;
  }

  settled(mark: number): void {
    this.#inFlight--;
    const owed = this.#share.settled(mark);
    if (this.#costKnown) this.#callCost += (owed - this.#callCost) / 8;
    else {
      this.#callCost = owed;
      this.#costKnown = true;
    }
    // The user pays for a call that settles after its connection closed, too.
    this.#pool?.spend(owed);
    if (this.#closed) return;
    if (this.#pool !== undefined) this.#pooling();
    if (this.#serviceRate !== Infinity) this.#service -= owed;
    if (this.#queue.length > 0) this.#schedule();
  }

  /** The connection closed: drops the queue and the timers (calls still in flight settle as usual). */
  dispose(): void {
    if (this.#pool !== undefined) this.#pool.inFlightMs -= this.#pooled;
    this.#pooled = 0;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }

  #budgetLeft(): boolean {
    return this.#tokens >= 1 && this.#service > 0 && (this.#pool === undefined || this.#pool.left());
  }

  #admits(): boolean {
    return this.#budgetLeft() && !this.#heldByCalls();
  }

  /**
   * True if the calls in flight hold the next frame: `maxInFlight` of them, or as many as `maxInFlightMs`
   * allows, for this connection or over all its user's. A connection with none in flight is never held
   * (its own settles could not wake it): a user's stall is bounded by `maxInFlightMs` and one call per connection.
   */
  #heldByCalls(): boolean {
    const n = this.#inFlight;
    if (n >= this.#maxInFlight) return true;
    if (n === 0) return false;
    const cost = this.#expectedCost();
    return (n + 1) * cost > this.#maxInFlightMs || (this.#pool !== undefined && this.#pool.inFlightMs + cost > this.#maxInFlightMs);
  }

  /** What a call of this connection is expected to cost after its first turn, ms. */
  #expectedCost(): number {
    return this.#costKnown ? this.#callCost : this.#maxInFlightMs / FRESH_CALLS;
  }

  /** True if a frame arriving at `now` may be handled in this turn: the run it joins is still within its slice. */
  #inRun(now: number): boolean {
    if (now - this.#lastEnd >= SAME_RUN_MS) {
      this.#runStart = now;
      this.#runAhead = 0;
    }
    return now - this.#runStart + this.#runAhead < this.#sliceMs;
  }

  /** Hands a frame on and charges it: one frame, and the loop time its synchronous handling took. Returns when it ended. */
  #deliver(data: Buffer, isBinary: boolean, start: number): number {
    this.#tokens--;
    const pool = this.#pool;
    pool?.frame();
    // Without a service budget nothing is measured (and no run is ever cut short).
    if (!this.#measures) {
      this.#io.deliver(data, isBinary);
      return start;
    }
    const calls = this.#inFlight;
    try {
      this.#io.deliver(data, isBinary);
    } finally {
      if (this.#inFlight > calls) this.#runAhead += this.#callCost;
      const end = this.#now();
      this.#lastEnd = end;
      this.#service -= end - start;
      pool?.spend(end - start);
      this.#share.charged(end - start);
    }
    return this.#lastEnd;
  }

  #refill(now: number): void {
    const { callsPerSecond, callBurst } = this.#options;
    const elapsed = now - this.#refilledAt;
    if (elapsed <= 0) return;
    this.#tokens = Math.min(callBurst, this.#tokens + (elapsed * callsPerSecond) / 1000);
    if (this.#serviceRate !== Infinity) this.#service = Math.min(this.#serviceBurst, this.#service + (elapsed * this.#serviceRate) / 1000);
    this.#refilledAt = now;
    const pool = this.#pool;
    pool?.refill(now);
    // Full again: the connection (and its user, at some time since) stayed within budget long enough to be
    // forgiven its last burst. The user's buckets may have been full only between this connection's looks.
    if (this.#tokens >= callBurst && this.#service >= this.#serviceBurst && (pool === undefined || (this.#overSince !== undefined && pool.fullAt >= this.#overSince))) this.#overSince = undefined;
  }

  /** Drains when the queue's head may go: at the next turn if only the slice or a call held it, else when the buckets allow. */
  #schedule(): void {
    if (this.#timer !== undefined || this.#immediate !== undefined || this.#closed) return;
    if (!this.#budgetLeft()) {
      // Until the next frame token and a positive service balance; the drain then admits what both allow.
      const frameMs = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) * 1000) / this.#options.callsPerSecond;
      const serviceMs = this.#service > 0 ? 0 : ((-this.#service + 0.01) * 1000) / this.#serviceRate;
      const ms = Math.max(1, Math.ceil(Math.max(frameMs, serviceMs, this.#pool?.waitMs() ?? 0)));
      this.#timer = setTimeout(() => this.#drain(), ms);
      this.#timer.unref?.();
      return;
    }
    // Held by its calls in flight: settled() schedules again when one ends.
    if (this.#heldByCalls()) return;
    this.#immediate = setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#closed) return;
    let now = this.#now();
    this.#refill(now);
    const until = now + this.#sliceMs;
    this.#runAhead = 0;
    while (this.#queue.length > 0 && this.#admits() && now + this.#runAhead < until && !this.#closed) {
      const frame = this.#queue.shift()!;
      this.#queuedBytes -= frame.data.length;
      now = this.#deliver(frame.data, frame.isBinary, now);
    }
    if (this.#closed) return;
    // The next frame read starts a run of its own.
    this.#lastEnd = 0;
    if (this.#overSince !== undefined && now - this.#overSince > this.#options.overBudgetCloseMs) return this.#close();
    if (this.#queue.length > 0) return this.#schedule();
    this.#paused = false;
    this.#io.resume();
  }

  #close(): void {
    if (this.#closed) return;
    this.dispose();
    // Reading again, so the close handshake can complete; later frames find the inbox closed.
    if (this.#paused) this.#io.resume();
    // Its own buckets had budget: it was its user's that ran out.
    const byUser = this.#pool !== undefined && this.#tokens >= 1 && this.#service > 0;
    this.#io.close(byUser ? fail('ERR_OVER_BUDGET', 'calls sent faster than the user budget for too long') : fail('ERR_OVER_BUDGET'));
  }
}
