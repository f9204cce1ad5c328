// #region server
import { CapsyncServer, consoleLogger, type LogLevel } from '../../server/index.js';
import { functions } from './functions.js';

export async function startNotesServer(port: number, host: string, secret: string, logLevel: LogLevel = 'info'): Promise<CapsyncServer> {
  const server = await CapsyncServer.create({
    auth: { secret },                 // HS256 session JWTs: your login service signs with the same secret
    devUsers: {                       // GET /dev/login?user=ada answers { token }: loopback only, for development
      ada: { id: 'ada', roles: ['writer'] },
      bob: { id: 'bob', roles: [] },
    },
    logger: consoleLogger(logLevel),  // JSON lines on stderr (the default logs warnings only); or a pino logger
  });
  server.callables(functions);
  await server.listen(port, host);    // port 0 picks a free port; server.url says which
  return server;
}
// #endregion
