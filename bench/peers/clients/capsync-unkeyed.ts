/**
 * The capsync load with `keyedCalls: false`: the same calls without call keys, so the server makes no
 * store commit for them. Beside the keyed form, it shows what exactly-once calls cost.
 */
process.env['CAPSYNC_BENCH_KEYED'] = '0';
await import('./capsync.js');
