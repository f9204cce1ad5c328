import { parseArgs } from 'node:util';
import { formatReport, runClusterBench } from './run.js';

// `npm run bench:cluster [-- --short] [-- --json] [-- --holders N]` (fan-out holders, default 10,000)
const { values } = parseArgs({ options: { short: { type: 'boolean' }, json: { type: 'boolean' }, holders: { type: 'string' } } });
const report = await runClusterBench(values.short ?? false, values.holders === undefined ? undefined : Number(values.holders));
process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
process.exit(0);
