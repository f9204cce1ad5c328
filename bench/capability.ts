/**
 * `npm run bench:capability`: how fast capabilities are minted, narrowed and verified, next to a `jose`
 * HS256 JWS verify of the same scope, measured in the same run. Prints ns per operation (median of
 * interleaved rounds) and the two target ratios from issue 2:
 *
 *   - a cold verify (cache disabled) at least 2.5x faster than the JWS verify;
 *   - a cached verify at least 10x faster than a cold one.
 *
 * Exits with code 1 if a target is missed. Uses `node:crypto` for the chain, as the server does.
 */
import { createHash, createHmac, timingSafeEqual, webcrypto } from 'node:crypto';
import { CompactSign, base64url, compactVerify } from 'jose';
import { CapabilityVerifier, Keyring, nobleCrypto, type Capability, type CryptoProvider } from '../protocol/index.js';
import { statusOf } from '../protocol/capability/status.js';

/** The chain primitives from OpenSSL, as the server installs them (kept here so the bench needs no server code). */
const nodeCrypto: CryptoProvider = {
  hmacSha256: (key, message) => createHmac('sha256', key).update(message).digest(),
  sha256: (message) => createHash('sha256').update(message).digest(),
  timingSafeEqual: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};

const ROUNDS = 11;
const SLICE_MS = 100;
const WARMUP_MS = 300;
const USER = 'alice';

interface Op {
  readonly name: string;
  readonly run: () => unknown;
  readonly async?: boolean;
  /** Calls per slice, calibrated so one slice lasts about SLICE_MS. */
  iterations: number;
  readonly samples: number[];
}

let sink = 0;

function op(name: string, run: () => unknown, async = false): Op {
  return { name, run, async, iterations: 1, samples: [] };
}

/** Runs `op` `n` times; returns the elapsed nanoseconds. */
async function slice(o: Op, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  if (o.async) for (let i = 0; i < n; i++) sink += (await o.run()) ? 1 : 0;
  else for (let i = 0; i < n; i++) sink += o.run() ? 1 : 0;
  return Number(process.hrtime.bigint() - start);
}

/**
 * Interleaves the operations: each round runs one slice of every operation in turn, so a burst of load
 * on the machine hits all of them alike and the ratios of one round stay comparable. Reports medians.
 */
async function measure(ops: Op[]): Promise<void> {
  for (const o of ops) {
    let n = 1;
    let ns = 0;
    while ((ns = await slice(o, n)) < 10e6) n *= 2;
    o.iterations = Math.max(1, Math.round((n * SLICE_MS * 1e6) / ns));
    await slice(o, Math.round((o.iterations * WARMUP_MS) / SLICE_MS)); // JIT, caches and thread pool warmed
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const o of ops) {
      await slice(o, Math.ceil(o.iterations / 10)); // back in cache after the other operations ran
      o.samples.push((await slice(o, o.iterations)) / o.iterations);
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The median over rounds of a / b measured in the same round. */
function ratio(a: Op, b: Op): number {
  return median(a.samples.map((x, i) => x / b.samples[i]!));
}

function assertVerified(cap: Capability): Capability {
  const status = statusOf(cap);
  if (status === undefined || status instanceof Error) throw new Error(`bench capability did not verify: ${String(status)}`);
  return cap;
}

async function main(): Promise<void> {
  const secret = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const keyring = await Keyring.fromJwks([{ kty: 'oct', k: base64url.encode(secret), kid: 'bench-2025' }]);
  const cold = new CapabilityVerifier({ keyring, cacheSize: 0, crypto: nodeCrypto });
  const cached = new CapabilityVerifier({ keyring, crypto: nodeCrypto });
  const nobleColdVerifier = new CapabilityVerifier({ keyring, cacheSize: 0, crypto: nobleCrypto });

  // A 3-step capability: minted, then narrowed three times (scope, scope + expiry, audience).
  const expiresAt = Date.now() + 3_600_000;
  const minted = cold.mint(['youtube_videos']);
  const threeStep = minted.narrow(['dQw4w9WgXcQ']).narrow(['update'], { expiresAt }).narrow([], { audience: USER });
  const token = threeStep.toToken();
  assertVerified(cold.decode(token, USER));
  assertVerified(cached.decode(token, USER));

  // The same authority as a JWS: scope, expiry and audience in the payload, HS256 with the same secret.
  const payload = { scope: threeStep.scope, exp: Math.floor(expiresAt / 1000), aud: USER };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'HS256', kid: 'bench-2025' })
    .sign(secret);
  const hmacKey = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const decoder = new TextDecoder();
  const verifyJws = async (): Promise<boolean> => {
    const { payload: bytes } = await compactVerify(jws, hmacKey, { algorithms: ['HS256'] });
    const claims = JSON.parse(decoder.decode(bytes)) as { scope: unknown[]; exp: number; aud: string };
    return claims.aud === USER && claims.exp * 1000 > Date.now() && claims.scope.length === 3;
  };
  if (!(await verifyJws())) throw new Error('bench JWS did not verify');

  const mint = op('mint (1 block, signed + token encoded)', () => cold.mint(['youtube_videos', 'dQw4w9WgXcQ']));
  const narrow = op('narrow (1 step, verified parent)', () => minted.narrow(['dQw4w9WgXcQ']));
  const coldVerify = op('decode+verify 3-step, cold (cacheSize 0)', () => cold.decode(token, USER));
  const cachedVerify = op('decode+verify 3-step, cached', () => cached.decode(token, USER));
  const jwsVerify = op('jose HS256 compactVerify + claims, same scope', verifyJws, true);
  const nobleCold = op('decode+verify 3-step, cold, @noble/hashes', () => nobleColdVerifier.decode(token, USER));
  const ops = [mint, narrow, coldVerify, cachedVerify, jwsVerify, nobleCold];
  const started = performance.now();
  await measure(ops);

  const ratios = [
    { name: 'JWS verify / cold verify', value: ratio(jwsVerify, coldVerify), target: 2.5 },
    { name: 'cold verify / cached verify', value: ratio(coldVerify, cachedVerify), target: 10 },
  ];

  const line = (a: string, b: string, c = '', d = ''): string => `${a.padEnd(48)}${b.padStart(10)}${c.padStart(10)}${d.padStart(8)}`;
  console.log(`capsync capability bench: node ${process.version}, node:crypto provider`);
  console.log(`median of ${ROUNDS} interleaved rounds, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log('');
  console.log(line(`operation (3-step token: ${token.length} bytes)`, 'ns/op'));
  for (const o of ops) console.log(line(o.name, median(o.samples).toFixed(0)));
  console.log('');
  console.log(line('ratio (median of per-round ratios)', 'measured', 'target'));
  let missed = false;
  for (const r of ratios) {
    const ok = r.value >= r.target;
    missed ||= !ok;
    console.log(line(r.name, `${r.value.toFixed(1)}x`, `>= ${r.target}x`, ok ? 'ok' : 'MISSED'));
  }
  if (sink < 0) console.log(sink);
  if (missed) process.exitCode = 1;
}

await main();
