import pino from 'pino';
import { CapsyncError, CapsyncServer, SqliteStore } from '../../server/index.js';
import { installVideoApp, demoUsers, seedIfEmpty } from './app.js';
import { jwtSecretFor, parseServeArgs, serveHelp, storeFilename, type ServeConfig } from './config.js';
import { dashboardHandler } from './dashboard-files.js';

/** Starts the demo server from parsed settings. Resolves once it listens. */
export async function startDemo(config: ServeConfig): Promise<CapsyncServer> {
  const logger = pino({ level: config.logLevel });
  const store = new SqliteStore(storeFilename(config.data));
  const secret = config.jwksUrl ? undefined : await jwtSecretFor(config, store);
  const server = await CapsyncServer.create({
    store,
    logger,
    auth: { ...(secret ? { secret } : { jwksUrl: config.jwksUrl! }), allowAnonymous: config.anonymous },
    ...(config.capabilityKeys ? { capabilityKeys: config.capabilityKeys } : {}),
    ...(config.origins ? { origins: config.origins } : {}),
    ...(config.devLogin ? { devUsers: demoUsers } : {}),
    http: dashboardHandler(),
  });
  installVideoApp(server);
  await seedIfEmpty(server);
  await server.listen(config.port, config.host);
  return server;
}

/** `capsync serve` / `npm start`: returns the process exit code. */
export async function runServe(args: string[], command: string): Promise<number> {
  let config: ServeConfig;
  try {
    config = parseServeArgs(args);
  } catch (error) {
    process.stderr.write(`${error instanceof CapsyncError ? error.message : String(error)}\n\n${serveHelp(command)}`);
    return 2;
  }
  if (config.help) {
    process.stdout.write(serveHelp(command));
    return 0;
  }
  const server = await startDemo(config);
  const shutdown = (): void => {
    server.logger.info({ event: 'shutdown' });
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  const http = server.url.replace('ws:', 'http:');
  const devHint = config.devLogin ? `\n  dashboard: ${http}/\n  dev login: ${http}/dev/login?user=editor` : '';
  process.stderr.write(`capsync demo listening on ${server.url}${devHint}\n`);
  return new Promise<number>(() => {}); // runs until a signal
}
