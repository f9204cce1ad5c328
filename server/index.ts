import { setCryptoProvider } from '../protocol/crypto.js';
import { nodeCrypto } from './node-crypto.js';

// The server checks a capability on every call: OpenSSL's HMAC is about twice as fast as the portable one.
setCryptoProvider(nodeCrypto);

export { CapsyncServer, type ServerOptions, type PresencePolicy } from './server.js';
export { Authenticator, type AuthOptions, type User, type Authenticated } from './auth.js';
export { LiveObjects } from './live.js';
export { LocalFanout, type Fanout, type ObjectUpdate } from './fanout.js';
export { SqliteStore } from './store/sqlite.js';
export { MemoryStore } from './store/memory.js';
export type { ObjectStore, StoredObject, DelegationRecord, IssuedRecord } from './store/types.js';
export type { CallContext, Callable, CallableOptions } from './registry.js';
export { ServerSession, type ServerTransport, type SessionHost } from './session.js';
export { HolderIndex } from './holders.js';
export { nodeCrypto } from './node-crypto.js';
export * from '../protocol/index.js';
