export { CapsyncServer } from './server.js';
export type { ServerOptions, HubOptions, ConnectionLimits, Clock, Logger } from './options.js';
export { silentLogger } from './options.js';
export { consoleLogger, warningLogger, type LogLevel, type LogSink } from './logger.js';
export type { PresencePolicy } from './presence.js';
export type { CollectionOptions, RevealRequest } from './collections.js';
export { Authenticator, type AuthOptions, type User, type Authenticated } from './auth.js';
export type { LiveObjects, CurrentObject } from './live.js';
export { LocalFanout, type Fanout, type ObjectUpdate } from './fanout.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export { MemoryStore } from './store/memory.js';
export type { ClusterPeers, RemoteDelegation } from './cluster.js';
export type {
  ObjectStore, StoredObject, StoredChange, WriteResult, WriteCondition, StoredUpdate, CallRecord, CallRef, CallClaim, CallOutcome, CallCommit, DelegationRecord, DelegationFilter, IssuedRecord, StoreOptions,
} from './store/types.js';
export type { CallContext, Callable, CallableOptions, ServerApi } from './registry.js';
export { ServerFunctionError } from './registry.js';
export { serverFunction, type ServerFunction, type DeclaredTypes, type FunctionSignatures } from './server-function.js';
export type {
  ArgumentsSchema, SchemaInput, SchemaOutput, SchemaIssue, SchemaResult, SchemaSuccess, SchemaFailure, SchemaTypes, PathSegment,
} from './schema.js';
export * from '../protocol/index.js';
