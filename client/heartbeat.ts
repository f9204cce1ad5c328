/** What a {@link Heartbeat} does when the server has been quiet. */
export interface HeartbeatActions {
  /** Nothing heard for one interval: ask the server for a sign of life. */
  ping(): void;
  /** Nothing heard for two intervals: the connection is dead. */
  dead(): void;
}

/**
 * The client's side of liveness. The server announces its ping interval in the hello; a client that hears
 * nothing (no frame at all, pong or otherwise) for one interval pings, and after about two intervals of
 * silence treats the connection as dead, so a paused or partitioned server is noticed within seconds
 * rather than at a call's 30 s timeout. A TCP connection to a frozen host can stay "open" for minutes.
 *
 * One timer, re-armed only when it fires: {@link heard} runs for every frame, so it just records the time.
 */
export class Heartbeat {
  readonly #intervalMs: number;
  readonly #actions: HeartbeatActions;
  #lastHeard = Date.now();
  #pinged = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(intervalMs: number, actions: HeartbeatActions) {
    this.#intervalMs = intervalMs;
    this.#actions = actions;
    this.#arm();
  }

  /** A frame arrived: the server is alive. */
  heard(): void {
    this.#lastHeard = Date.now();
    this.#pinged = false;
  }

  /** Stops the timer (the connection ended). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const due = this.#lastHeard + (this.#pinged ? 2 : 1) * this.#intervalMs;
    this.#timer = setTimeout(() => this.#check(), Math.max(due - Date.now(), 0));
  }

  #check(confirming = false): void {
    const silence = Date.now() - this.#lastHeard;
    if (silence >= 2 * this.#intervalMs) {
      // Checked again once what already arrived has been read: after this process was itself stalled (a busy
      // event loop, a throttled tab), the timer fires before the socket's waiting frames are read, and the
      // server's answer may be among them.
      if (!confirming) {
        this.#timer = setTimeout(() => this.#check(true), 0);
        return;
      }
      this.#timer = undefined;
      this.#actions.dead();
      return;
    }
    if (silence >= this.#intervalMs && !this.#pinged) {
      this.#pinged = true;
      this.#actions.ping();
    }
    this.#arm();
  }
}
