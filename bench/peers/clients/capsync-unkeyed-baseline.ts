/** The capsync load of the baseline build (`--baseline DIR`) with `keyedCalls: false`. */
import { importBaseline } from '../baseline.js';

process.env['CAPSYNC_BENCH_KEYED'] = '0';
await importBaseline('bench/peers/clients/capsync.js');
