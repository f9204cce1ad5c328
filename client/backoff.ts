/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /** The cap of the first attempt's delay (ms); each attempt doubles it. */
  readonly baseDelayMs: number;
  /** No delay exceeds this (ms). */
  readonly maxDelayMs: number;
}

/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"; centrifuge-js
 * `utils.ts`): a delay drawn uniformly from [0, min(max, base * 2^attempt)]. The first retry (attempt 0) is
 * jittered too: after a server restart every client is dropped in the same millisecond, and without jitter
 * they would all come back in the same one.
 *
 * `random` returns a number in [0, 1) (`Math.random` by default; tests inject their own).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2^attempt overflows to Infinity long after min() has settled on maxDelayMs; clamp the exponent anyway.
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
