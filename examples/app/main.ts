// #region main
import { parseArgs } from 'node:util';
import { startNotesServer } from './server.js';

// node main.js --port 8080 [--host 127.0.0.1], with NOTES_JWT_SECRET (at least 32 bytes) in the environment
const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } } });
const secret = process.env['NOTES_JWT_SECRET'];
if (!secret) throw new Error('set NOTES_JWT_SECRET, e.g. NOTES_JWT_SECRET=$(openssl rand -hex 32)');
const server = await startNotesServer({ port: Number(values.port), host: values.host, secret });
console.log(`notes server on ${server.url}`);
process.once('SIGINT', () => void server.close());
process.once('SIGTERM', () => void server.close());
// #endregion
