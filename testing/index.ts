/**
 * `capsync/testing`: run a capsync server and its clients in one process without sockets, and cut their
 * connections on demand. For application tests and scripted protocol tests.
 */
import { CapsyncClient, type ConnectOptions } from '../client/client.js';
import { CapsyncError, fail } from '../protocol/errors.js';
import type { User } from '../server/auth.js';
import { hubOf, type CapsyncServer } from '../server/server.js';
import { MemoryLink } from './memory.js';

export { MemoryLink } from './memory.js';
export { forgeCapability, requestIdOf } from './hostile.js';

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
  /** The connected client: use it as one connected over a socket. */
  readonly client: CapsyncClient;
  /** The link of the client's current connection: a reconnecting client gets a new one each time. */
  readonly link: MemoryLink;
  /** Every link this client has had, oldest first. */
  readonly links: readonly MemoryLink[];
}

/**
 * Connects a client to `server` over in-memory links: the server need not listen. Authentication runs as at
 * a real upgrade (a bad token rejects with its code), unless `user` is given. The client reconnects as it
 * would over a socket: each attempt opens a new link (and asks a token function again).
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret } });
 * const memory = await connectInMemory(server, { user: { id: 'editor', roles: ['editor'] } });
 * memory.link.drop(); // the client sees 1006, reconnects over a new link and resumes
 * ```
 */
export async function connectInMemory(server: CapsyncServer, options: MemoryConnectOptions = {}): Promise<MemoryConnection> {
  const hub = hubOf(server);
  const links: MemoryLink[] = [];
  const client = await CapsyncClient.connect('memory:', options, (_url, token) => {
    const link = new MemoryLink();
    links.push(link);
    let refusal: CapsyncError | undefined;
    const authenticated = options.user !== undefined ? Promise.resolve({ user: options.user, expiresAt: null }) : hub.auth.authenticate(token);
    // Authentication is asynchronous, as at an upgrade: the session starts (and hello is sent) once it passed.
    authenticated.then(
      (auth) => link.accept((transport) => hub.handleConnection(transport, auth)),
      (error: unknown) => {
        refusal = error instanceof CapsyncError ? error : fail('ERR_AUTH_INVALID');
        link.refuse();
      },
    );
    return { socket: link.client, failure: () => refusal ?? fail('ERR_NOT_CONNECTED', 'in-memory link closed before hello') };
  });
  return {
    client,
    get link() {
      return links[links.length - 1]!;
    },
    links,
  };
}
