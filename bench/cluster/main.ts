import { parseArgs } from 'node:util';
import { formatReport, runClusterBench } from './run.js';

// `npm run bench:cluster [-- --short] [-- --json]`
const { values } = parseArgs({ options: { short: { type: 'boolean' }, json: { type: 'boolean' } } });
const report = await runClusterBench(values.short ?? false);
process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
process.exit(0);
