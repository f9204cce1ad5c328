import { benchArgs } from '../args.js';
import { formatReport, parts, runClusterBench, type Part } from './run.js';

// `npm run bench:cluster [-- --short] [-- --json] [-- --holders N] [-- --parts delivery,fanout]` (fan-out holders, default 10,000;
// parts: bus, delivery, revocation, calls, redis-benchmark, fanout; default all)
const { values } = benchArgs('bench:cluster', { options: { short: { type: 'boolean' }, json: { type: 'boolean' }, holders: { type: 'string' }, parts: { type: 'string' } } });
const only = values.parts === undefined ? parts : (values.parts.split(',') as Part[]);
for (const p of only) if (!parts.includes(p)) throw new Error(`unknown part ${p}; parts: ${parts.join(', ')}`);
const report = await runClusterBench(values.short ?? false, values.holders === undefined ? undefined : Number(values.holders), only);
process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
process.exit(0);
