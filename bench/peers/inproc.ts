/**
 * One process that runs a system's server and its load generator together (`bench:peers` runs the calls
 * benchmark this way beside the form with a process each): `node inproc.js <system>`. The server module
 * starts first and leaves its handlers to the load module, which answers the runner for both.
 */
import { isSystemId } from './systems.js';

const system = process.argv[2] ?? '';
if (!isSystemId(system)) throw new Error(`unknown system ${JSON.stringify(system)}`);
process.env['CAPSYNC_BENCH_INPROC'] = '1';
// Resolved at run time (not bundled): the same compiled server and load scripts the other form forks.
const script = (kind: string): string => new URL(`./${kind}/${system}.js`, import.meta.url).href;
await import(script('servers'));
await import(script('clients'));
