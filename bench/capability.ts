/**
 * `npm run bench:capability [-- --runs N]`: how fast capabilities are minted, narrowed and verified, next to
 * a `jose` HS256 JWS verify of the same scope measured in the same run. Each run prints ns per operation
 * (median of interleaved rounds) and the target ratios of issue 15, judged in every run:
 *
 *   - a cold verify (no cache) of a 3-step token at least 2.5x faster than the JWS verify;
 *   - a token narrowed by one step from a cached capability at least 5x faster than a cold verify of the same
 *     tokens (each one is decoded once by a verifier that holds its parent, and once by one with no cache);
 *   - a cached verify at least 10x faster than a cold one.
 *
 * Uses the server's `node:crypto` provider, and measures the portable `@noble/hashes` one (browsers) beside
 * it. Targets are judged on CPU time per operation (wall time is printed beside it: on a loaded machine it
 * includes time the process spent descheduled), as the ratio of medians over 150 rounds of batches of a few ms
 * of every operation in turn (bench/capability-measure.ts). Prints the load average beside each run. Exits with
 * code 1 if a target is missed in any run. Default 5 runs.
 */
import { webcrypto } from 'node:crypto';
import { loadavg } from 'node:os';
import { benchArgs } from './args.js';
import { CompactSign, base64url, compactVerify } from 'jose';
import { CapabilityVerifier, Keyring, capabilityFromToken, nobleCrypto, type Capability, type CryptoProvider } from '../protocol/index.js';
import { statusOf } from '../protocol/capability/status.js';
import { nodeCrypto } from '../server/node-crypto.js';
import { measure, median, op, ratio, type Op } from './capability-measure.js';

const USER = 'alice';
/** Distinct one-step children of the cached parent: each is decoded once per pass, never a token-cache hit. */
const POOL = 2048;

function assertVerified(cap: Capability): Capability {
  const status = statusOf(cap);
  if (status === undefined || status instanceof Error) throw new Error(`bench capability did not verify: ${String(status)}`);
  return cap;
}

/** Distinct tokens that each extend `parent` by one audience step, as a client narrows one it was sent. */
function childPool(parent: Capability): Uint8Array[] {
  const held = capabilityFromToken(parent.toToken());
  return Array.from({ length: POOL }, () => held.narrow([], { audience: USER }).toToken());
}

/**
 * Decodes the pool's tokens in turn with `verifier`. For the narrowed-from-cached path its token cache is
 * smaller than the pool (so no token is a hit) but it keeps the parent (touched every time).
 */
function decodeInTurn(verifier: CapabilityVerifier, pool: readonly Uint8Array[], parent?: Capability): () => Capability {
  if (parent !== undefined) assertVerified(verifier.decode(parent.toToken(), USER));
  assertVerified(verifier.decode(pool[0]!, USER));
  let i = 0;
  return () => verifier.decode(pool[i++ % POOL]!, USER);
}

interface Target {
  readonly name: string;
  readonly slow: Op;
  readonly fast: Op;
  readonly target: number;
}

async function oneRun(run: number, runs: number): Promise<boolean> {
  const secret = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const keyring = await Keyring.fromJwks([{ kty: 'oct', k: base64url.encode(secret), kid: 'bench-2025' }]);
  const verifier = (crypto: CryptoProvider, cacheSize?: number): CapabilityVerifier =>
    new CapabilityVerifier({ keyring, crypto, ...(cacheSize !== undefined ? { cacheSize } : {}) });
  const cold = verifier(nodeCrypto, 0);
  const cached = verifier(nodeCrypto);
  const nobleCold = verifier(nobleCrypto, 0);
  // The same providers without the root key's precomputed HMAC state: what a cold verify cost before it.
  const plainCold = verifier({ ...nodeCrypto, keyedHmac: undefined }, 0);
  const plainNobleCold = verifier({ ...nobleCrypto, keyedHmac: undefined }, 0);

  // A 3-step capability: minted, then narrowed three times (scope, scope + expiry, audience).
  const expiresAt = Date.now() + 3_600_000;
  const minted = cold.mint(['youtube_videos']);
  const twoStep = minted.narrow(['dQw4w9WgXcQ']).narrow(['update'], { expiresAt });
  const threeStep = twoStep.narrow([], { audience: USER });
  const token = threeStep.toToken();
  assertVerified(cold.decode(token, USER));
  assertVerified(cached.decode(token, USER));
  assertVerified(nobleCold.decode(token, USER));

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
  const pool = childPool(twoStep);
  const coldVerify = op('decode+verify 3-step, cold (cacheSize 0)', () => cold.decode(token, USER));
  const stepCold = op('  the narrowed tokens below, cold', decodeInTurn(cold, pool));
  const plainVerify = op('  cold, root HMAC state not precomputed', () => plainCold.decode(token, USER));
  const cachedVerify = op('decode+verify 3-step, cached', () => cached.decode(token, USER));
  const stepVerify = op('decode+verify 3-step, narrowed from cached', decodeInTurn(verifier(nodeCrypto, 64), pool, twoStep));
  const jwsVerify = op('jose HS256 compactVerify + claims, same scope', verifyJws, true);
  const nobleVerify = op('  @noble/hashes: cold', () => nobleCold.decode(token, USER));
  const plainNoble = op('  @noble/hashes: cold, root state not precomputed', () => plainNobleCold.decode(token, USER));
  const nobleStepCold = op('  @noble/hashes: the narrowed tokens, cold', decodeInTurn(nobleCold, pool));
  const nobleStep = op('  @noble/hashes: narrowed from cached', decodeInTurn(verifier(nobleCrypto, 64), pool, twoStep));
  const ops = [mint, narrow, jwsVerify, coldVerify, stepCold, stepVerify, cachedVerify, plainVerify, nobleVerify, plainNoble, nobleStepCold, nobleStep];
  const load = loadavg()[0]!.toFixed(2);
  const started = performance.now();
  const rounds = await measure(ops);

  const targets: Target[] = [
    { name: 'JWS verify / cold verify', slow: jwsVerify, fast: coldVerify, target: 2.5 },
    { name: 'same tokens cold / narrowed from cached', slow: stepCold, fast: stepVerify, target: 5 },
    { name: 'cold / cached', slow: coldVerify, fast: cachedVerify, target: 10 },
    { name: 'cold: not precomputed / precomputed root', slow: plainVerify, fast: coldVerify, target: 0 },
    { name: 'JWS verify / @noble/hashes cold verify', slow: jwsVerify, fast: nobleVerify, target: 0 },
    { name: '@noble cold: not precomputed / precomputed', slow: plainNoble, fast: nobleVerify, target: 0 },
    { name: '@noble same tokens cold / narrowed from cached', slow: nobleStepCold, fast: nobleStep, target: 0 },
  ];
  const line = (a: string, b: string, c = '', d = ''): string => `${a.padEnd(48)}${b.padStart(10)}${c.padStart(10)}${d.padStart(8)}`;
  console.log(`run ${run}/${runs}: node ${process.version}, median of ${rounds} interleaved rounds, ${((performance.now() - started) / 1000).toFixed(1)} s, load average ${load} -> ${loadavg()[0]!.toFixed(2)}`);
  console.log(line(`operation (3-step token: ${token.length} bytes)`, 'CPU ns', 'wall ns'));
  for (const o of ops) console.log(line(o.name, median(o.samples).toFixed(0), median(o.wall).toFixed(0)));
  console.log(line('ratio (of the medians)', 'CPU', 'wall', 'target'));
  let met = true;
  for (const t of targets) {
    const value = ratio(t.slow, t.fast);
    const ok = value >= t.target;
    met &&= ok;
    const target = t.target > 0 ? `>= ${t.target}x ${ok ? 'ok' : 'MISSED'}` : '';
    console.log(line(t.name, `${value.toFixed(1)}x`, `${ratio(t.slow, t.fast, true).toFixed(1)}x`) + `  ${target}`);
  }
  console.log('');
  return met;
}

async function main(): Promise<void> {
  const { values } = benchArgs('bench:capability', { options: { runs: { type: 'string', default: '5' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  console.log('capsync capability bench (node:crypto provider unless marked)\n');
  let missed = 0;
  for (let run = 1; run <= runs; run++) if (!(await oneRun(run, runs))) missed++;
  console.log(missed === 0 ? `every target met in all ${runs} runs` : `a target was missed in ${missed} of ${runs} runs`);
  if (missed > 0) process.exitCode = 1;
}

await main();
