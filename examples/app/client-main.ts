// #region client-main
import { parseArgs } from 'node:util';
import { adaWritesBobWatches } from './node-client.js';

// node client-main.js --url ws://127.0.0.1:8080: tokens from the server's development login (devUsers)
const { values } = parseArgs({ options: { url: { type: 'string', default: 'ws://127.0.0.1:8080' } } });
const devLogin = async (user: string): Promise<string> => {
  const answer = await fetch(`${values.url.replace(/^ws/, 'http')}/dev/login?user=${user}`);
  return ((await answer.json()) as { token: string }).token;
};
console.log(JSON.stringify(await adaWritesBobWatches(values.url, devLogin)));
// #endregion
