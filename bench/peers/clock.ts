/**
 * Milliseconds on the monotonic clock. On Linux and macOS this clock is system-wide, so a time read in the
 * server process and one read in a load process can be subtracted: that is how fan-out delivery is timed.
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
