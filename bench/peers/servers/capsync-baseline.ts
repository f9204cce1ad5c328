/** The capsync server of the baseline build (`--baseline DIR`). */
import { importBaseline } from '../baseline.js';

await importBaseline('bench/peers/servers/capsync.js');
