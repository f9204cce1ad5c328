import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Imports a bench script of the baseline build (`--baseline DIR`, the compiled output of another checkout:
 * its `bench/peers/servers/capsync.js` and so on), so one run measures two builds in interleaved rounds.
 */
export async function importBaseline(script: string): Promise<void> {
  const dir = process.env['CAPSYNC_BENCH_BASELINE'];
  if (dir === undefined || dir === '') throw new Error('the baseline systems need --baseline DIR');
  await import(pathToFileURL(join(isAbsolute(dir) ? dir : resolve(dir), script)).href);
}
