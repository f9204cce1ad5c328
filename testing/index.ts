/**
 * `capsync/testing`: run a capsync server and its clients in one process without sockets, and cut their
 * connections on demand. For application tests and scripted protocol tests.
 */
import { CapsyncClient, type ConnectOptions } from '../client/client.js';
import { fail } from '../protocol/errors.js';
import type { User } from '../server/auth.js';
import { hubOf, type CapsyncServer } from '../server/server.js';
import { MemoryLink } from './memory.js';

export { MemoryLink } from './memory.js';

/** Options of {@link connectInMemory}: the client's, plus who connects. */
export interface MemoryConnectOptions extends ConnectOptions {
  /**
   * Connect as this user without a JWT (the upgrade's authentication is skipped, as if it had passed).
   * Omit it and pass `token` to go through the server's authentication instead; omit both for anonymous.
   */
  readonly user?: User;
}

/** A client connected in memory, and the link under it (`link.drop()` cuts it like a network failure). */
export interface MemoryConnection {
  readonly client: CapsyncClient;
  readonly link: MemoryLink;
}

/**
 * Connects a client to `server` over an in-memory link: the server need not listen. Authentication runs
 * as at a real upgrade (a bad token rejects with its code), unless `user` is given.
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret } });
 * const { client, link } = await connectInMemory(server, { user: { id: 'editor', roles: ['editor'] } });
 * link.drop(); // the client sees 1006
 * ```
 */
export async function connectInMemory(server: CapsyncServer, options: MemoryConnectOptions = {}): Promise<MemoryConnection> {
  const hub = hubOf(server);
  const authenticated = options.user !== undefined ? { user: options.user, expiresAt: null } : await hub.auth.authenticate(options.token);
  let link: MemoryLink | undefined;
  const client = await CapsyncClient.connect('memory:', options, () => {
    link = new MemoryLink();
    link.attach(hub.handleConnection(link.server, authenticated));
    return { socket: link.client, failure: () => fail('ERR_NOT_CONNECTED', 'in-memory link closed before hello') };
  });
  return { client, link: link! };
}
