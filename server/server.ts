import type { AddressInfo } from 'node:net';
import type { Capability } from '../protocol/capability/capability.js';
import type { MintOptions } from '../protocol/verifier.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { Authenticator } from './auth.js';
import { Hub } from './hub.js';
import type { LiveObjects } from './live.js';
import { NodeListener } from './node/listener.js';
import type { Logger, ServerOptions } from './options.js';
import type { Callable, CallableOptions, ServerApi } from './registry.js';
import type { ServerFunction } from './server-function.js';
import type { ObjectStore } from './store/types.js';

const hubs = new WeakMap<CapsyncServer, Hub>();

/** @internal The core behind a server, for the in-memory transport of `capsync/testing`; not exported by the package. */
export function hubOf(server: CapsyncServer): Hub {
  return hubs.get(server)!;
}

/**
 * The capsync server: the socket-free core (`Hub`: server functions, live objects pushed to
 * capability holders, delegation, revocation) behind a Node HTTP + WebSocket listener.
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret } });
 * server.callable('get_my_videos', async (ctx) => ...);
 * const { port } = await server.listen(0, '127.0.0.1');
 * ```
 */
export class CapsyncServer implements ServerApi {
  readonly #hub: Hub;
  readonly #listener: NodeListener;

  private constructor(hub: Hub, options: ServerOptions) {
    this.#hub = hub;
    hubs.set(this, hub);
    this.#listener = new NodeListener(hub, options);
  }

  /** Creates a server; loads (or generates and stores) the capability keys. */
  static async create(options: ServerOptions): Promise<CapsyncServer> {
    return new CapsyncServer(await Hub.create(options), options);
  }

  /** Live objects: store them and push their changes to every holder of a covering capability. */
  get live(): LiveObjects {
    return this.#hub.live;
  }

  /** Verifies session JWTs at the upgrade; `auth.issue(user)` makes one (HS256 secret only). */
  get auth(): Authenticator {
    return this.#hub.auth;
  }

  /** The store this server keeps objects, keys, revocations and delegations in. */
  get store(): ObjectStore {
    return this.#hub.store;
  }

  /** The logger this server writes connection events and failed calls to. */
  get logger(): Logger {
    return this.#hub.logger;
  }

  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable<A extends unknown[]>(name: string, fn: Callable<A>, options?: CallableOptions): this {
    this.#hub.callable(name, fn, options);
    return this;
  }

  /**
   * Registers server functions declared with {@link serverFunction}, each under its key. `typeof functions`
   * is then the type a client passes to `connect<typeof functions>(...)` for calls checked end to end.
   */
  callables(functions: { readonly [name: string]: ServerFunction }): this {
    for (const [name, { fn, args }] of Object.entries(functions)) this.#hub.callable(name, fn, { args });
    return this;
  }

  /**
   * A capability minted with the current key, verified for this server (server code). Every session it is
   * sent to gets it bound to its own user (or anonymous identity); `{ bearer: true }` sends it unbound, usable
   * by whoever holds its bytes.
   *
   * @example
   * ```ts
   * const share = server.mint(['youtube_videos', id], { bearer: true, expiresAt: Date.now() + 3_600_000 });
   * ```
   */
  mint(scope: readonly JsonValue[], options?: MintOptions): Capability {
    return this.#hub.mint(scope, options);
  }

  /** Revokes every capability one session was sent (Anvil's `reset_session`). Returns how many. */
  revokeSession(sessionId: string): Promise<number> {
    return this.#hub.revokeSession(sessionId);
  }

  /** True when `cap` is a verified capability that still works now (Anvil's `Capability.is_valid`). */
  isValid(cap: unknown): boolean {
    return this.#hub.isValid(cap);
  }

  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). Returns its revocation id. */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#hub.revoke(cap);
  }

  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  revokeUser(userId: string): Promise<number> {
    return this.#hub.revokeUser(userId);
  }

  /** Starts listening. Resolves with the bound address. */
  listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    return this.#listener.listen(port, host);
  }

  /** The URL clients connect to (after `listen`). */
  get url(): string {
    const a = this.#listener.address;
    if (a === undefined) return '';
    return `ws://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Drains every connection (1001), stops listening, and closes the store. */
  async close(): Promise<void> {
    this.#hub.stopAccepting();
    await this.#listener.close();
    await this.#hub.close();
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.#hub.sessionCount;
  }
}
