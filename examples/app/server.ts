// #region server
import { CapsyncServer, consoleLogger, type LogLevel, type ServerOptions } from '../../server/index.js';
import { functions } from './functions.js';

export interface NotesServerOptions {
  readonly port: number;                // 0 picks a free port; server.url says which
  readonly host: string;                // '127.0.0.1' serves this machine only, '0.0.0.0' every interface
  readonly secret: string;              // HS256 session JWTs: your login service signs with the same secret
  readonly logLevel?: LogLevel;
  readonly http?: ServerOptions['http']; // routes of your own (your page, your login), beside the WebSocket
}

export async function startNotesServer({ port, host, secret, logLevel = 'info', http }: NotesServerOptions): Promise<CapsyncServer> {
  const server = await CapsyncServer.create({
    auth: { secret },
    devUsers: {                         // GET /dev/login?user=ada answers { token }: loopback only, for development
      ada: { id: 'ada', roles: ['writer'] },
      bob: { id: 'bob', roles: [] },
    },
    logger: consoleLogger(logLevel),    // JSON lines on stderr (the default logs warnings only); or a pino logger
    ...(http ? { http } : {}),
  });
  server.callables(functions);
  await server.listen(port, host);
  return server;
}
// #endregion
