import { backoffDelay } from '../../client/backoff.js';
import { clientDefaults } from '../../client/options.js';
import { median, quantile } from '../peers/stats.js';

/** What the backoff alone predicts for a herd: no server or client cost, only the waits. */
export interface BackoffModel {
  /** Simulated herds (each of `clients` clients); the figures are medians over them. */
  readonly simulations: number;
  /** ms from the kill to the last client's first attempt at or after the server listened again. */
  readonly lastMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Mean dials per client (failed ones included). */
  readonly meanDials: number;
}

/**
 * Simulates the default reconnect (full jitter, `clientDefaults.reconnectBaseDelayMs` doubling up to
 * `reconnectMaxDelayMs`) of `clients` clients that notice the drop `dropMs` after the kill, against a server
 * that listens again `downtimeMs` after it: a dial before that is refused at once and waits the next delay.
 */
export function simulateBackoff(clients: number, dropMs: number, downtimeMs: number, simulations = 25): BackoffModel {
  const options = { baseDelayMs: clientDefaults.reconnectBaseDelayMs, maxDelayMs: clientDefaults.reconnectMaxDelayMs };
  const last: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  const dials: number[] = [];
  for (let s = 0; s < simulations; s++) {
    const back = new Float64Array(clients);
    let total = 0;
    for (let c = 0; c < clients; c++) {
      let t = dropMs;
      let attempt = 0;
      do t += backoffDelay(attempt++, options);
      while (t < downtimeMs);
      back[c] = t;
      total += attempt;
    }
    back.sort();
    last.push(back[clients - 1]!);
    p50.push(quantile(back, 0.5));
    p99.push(quantile(back, 0.99));
    dials.push(total / clients);
  }
  return { simulations, lastMs: median(last), p50Ms: median(p50), p99Ms: median(p99), meanDials: median(dials) };
}
