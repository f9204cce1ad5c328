/** The capsync load of the baseline build (`--baseline DIR`). */
import { importBaseline } from '../baseline.js';

await importBaseline('bench/peers/clients/capsync.js');
