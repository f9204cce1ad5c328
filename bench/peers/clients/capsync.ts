import { connect, type Capability, type CapsyncClient } from '../../../client/index.js';
import { Authenticator } from '../../../server/auth.js';
import { BenchItem } from '../bench-item.js';
import { callPayload } from '../payload.js';
import { runLoad, type BenchClient } from './harness.js';

const secret = process.env['CAPSYNC_BENCH_SECRET'];
if (secret === undefined) throw new Error('CAPSYNC_BENCH_SECRET is not set');
const auth = new Authenticator({ secret });
const holdings = Number(process.env['CAPSYNC_BENCH_HOLDINGS'] ?? '0');
/** `0`: calls without keys (clients/capsync-unkeyed.ts). */
const keyedCalls = process.env['CAPSYNC_BENCH_KEYED'] !== '0';

/**
 * A set-up call (hold, grant, subscribe: each harmless to run twice). Unkeyed calls are not re-sent after
 * a reconnect, and on a starved machine a connection can drop while it sets up: such a call is made again.
 */
async function setUp<T>(client: CapsyncClient, name: string, ...args: unknown[]): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.call<T>(name, ...args);
    } catch (error) {
      if (keyedCalls || attempt >= 5 || (error as { code?: string }).code !== 'ERR_CALL_OUTCOME_UNKNOWN') throw error;
    }
  }
}

/** Receives the capabilities the connection holds besides the one its calls use, and keeps them. */
async function hold(client: CapsyncClient): Promise<Capability[]> {
  if (holdings === 0) return [];
  const caps = await setUp<Capability[]>(client, 'hold', holdings);
  if (!Array.isArray(caps) || caps.length !== holdings) throw new Error('hold did not return the capabilities asked for');
  return caps;
}

/**
 * The real capsync client (`connect()`), one user per connection, authenticated with a JWT at the upgrade.
 * Every call passes the connection's capability, which the server checks. Each connection first receives
 * and keeps `CAPSYNC_BENCH_HOLDINGS` capabilities besides (so the server tracks real holdings).
 */
async function connectCapsync(url: string, index: number): Promise<BenchClient> {
  const token = await auth.issue({ id: `bench-${index}`, roles: [] });
  const client: CapsyncClient = await connect(url, { token, callTimeoutMs: 60_000, connectTimeoutMs: 60_000, keyedCalls });
  let cap: Capability | undefined;
  let held: Capability[] = [];
  return {
    prepareCalls: async () => {
      held = await hold(client);
      cap = await setUp<Capability>(client, 'grant');
    },
    call: () => client.call('echo', cap, callPayload),
    subscribe: async (onUpdate) => {
      client.changes.subscribe((change) => {
        if (change.state !== null) onUpdate((change.state as { seq: number }).seq);
      });
      held = await hold(client);
      const item = await setUp<BenchItem>(client, 'subscribe');
      if (!(item instanceof BenchItem)) throw new Error('subscribe did not return a BenchItem');
    },
    close: () => {
      held = [];
      void client.close();
    },
  };
}

runLoad(connectCapsync);
