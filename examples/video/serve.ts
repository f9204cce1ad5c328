import pino from 'pino';
import { CapsyncError, CapsyncServer, SqliteStore } from '../../server/index.js';
// Not re-exported by capsync/server: its declarations name ioredis types, an optional dependency.
import { connectRedis } from '../../server/redis/index.js';
import { isLoopbackAddress } from '../../server/node/http.js';
import { installVideoApp, demoUsers, seedIfEmpty } from './app.js';
import { jwtSecretFor, parseServeArgs, serveHelp, storeFilename, type ServeConfig } from './config.js';
import { dashboardHandler } from './dashboard-files.js';
import { dashboardOriginHint, startupProblem } from './startup-problems.js';

/** Starts the demo server from parsed settings. Resolves once it listens; a failure to listen closes what was opened. */
export async function startDemo(config: ServeConfig): Promise<CapsyncServer> {
  const logger = pino({ level: config.logLevel });
  // Several nodes share one Redis; one node alone keeps its SQLite file.
  const shared = config.redis === undefined ? undefined : await connectRedis({ url: config.redis, cluster: config.redisCluster, durability: config.redisDurability, retryMs: config.redisRetryMs, logger, ...(config.redisWaitReplicas !== undefined ? { waitReplicas: config.redisWaitReplicas } : {}) });
  const store = shared?.store ?? new SqliteStore(storeFilename(config.data));
  let server: CapsyncServer;
  try {
    const secret = config.jwksUrl ? undefined : await jwtSecretFor(config, store);
    server = await CapsyncServer.create({
      store,
      ...(shared ? { fanout: shared.fanout, cluster: shared.cluster } : {}),
      logger,
      heartbeatMs: config.heartbeatMs,
      auth: { ...(secret ? { secret } : { jwksUrl: config.jwksUrl! }), allowAnonymous: config.anonymous },
      ...(config.capabilityKeys ? { capabilityKeys: config.capabilityKeys } : {}),
      ...(config.origins ? { origins: config.origins } : {}),
      ...(config.devLogin ? { devUsers: demoUsers, devLoginBeyondLoopback: config.devLoginBeyondLoopback } : {}),
      http: dashboardHandler({ ...(config.devLogin ? { devUsers: Object.keys(demoUsers) } : {}), ...(config.origins ? { origins: config.origins } : {}) }),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  try {
    installVideoApp(server);
    await seedIfEmpty(server);
    await server.listen(config.port, config.host);
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}

/**
 * `capsync serve` / `npm start`: returns the process exit code. A user's mistake (a bad flag, a busy port, a
 * short secret, a data path that is a file, ...) is one line on stderr and exit 2, never a stack trace.
 */
export async function runServe(args: string[], command: string): Promise<number> {
  let config: ServeConfig;
  try {
    config = parseServeArgs(args);
  } catch (error) {
    process.stderr.write(`capsync: ${error instanceof CapsyncError ? error.message : String(error)}\nRun "${command} --help" for the flags.\n`);
    return 2;
  }
  if (config.help) {
    process.stdout.write(serveHelp(command));
    return 0;
  }
  let server: CapsyncServer;
  try {
    server = await startDemo(config);
  } catch (error) {
    const problem = startupProblem(error, config);
    if (problem === undefined) throw error;
    process.stderr.write(`capsync: ${problem}\n`);
    return 2;
  }
  const shutdown = (): void => {
    server.logger.info({ event: 'shutdown' });
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  const http = server.url.replace('ws:', 'http:');
  // The development login answers only loopback Host names, so the hint names one when listening wider.
  const loopback = isLoopbackAddress(new URL(http).hostname);
  const devHttp = loopback ? http : `http://localhost:${new URL(http).port}`;
  const devHint = !config.devLogin
    ? ''
    : loopback || config.devLoginBeyondLoopback
      ? `\n  dashboard: ${devHttp}/\n  dev login: ${devHttp}/dev/login?user=editor`
      : `\n  dev login: off, since --host ${config.host} is beyond loopback (--dev-login-beyond-loopback forces it)`;
  process.stderr.write(`capsync demo listening on ${server.url}${devHint}${dashboardOriginHint(config, devHttp)}\n`);
  return new Promise<number>(() => {}); // runs until a signal
}
