export { Capability, capabilityFromToken, type Restrictions } from './capability/capability.js';
export { revocationId } from './capability/status.js';
export { ANY, unwrapCapability, matchScope, scopesOverlap, type PatternElement, type Unwrapped } from './unwrap.js';
export {
  CapsyncError,
  CloseCode,
  closeCodeClass,
  closeCodeClasses,
  errorCodes,
  isErrorCode,
  VersionConflictError,
  type CapsyncErrorCode,
  type CloseCodeClass,
} from './errors.js';
export { Codec, type CodecContext, type CodecOptions, type EncodeOptions } from './codec.js';
export { defaultLimits, resolveLimits, type Limits } from './limits.js';
export { Keyring, type RootKey } from './keyring.js';
export { CapabilityVerifier, type MintOptions, type VerifierOptions } from './verifier.js';
export { MemoryRevocationSet, type RevocationEntry, type RevocationSet } from './revocation.js';
export {
  PortableRegistry,
  defaultPortables,
  registerPortable,
  addressOf,
  portableByName,
  type PortableOptions,
  type PortableClass,
} from './portable.js';
export { FrameType, validateFrame, clientFrameTypes, serverFrameTypes, type Frame, type FrameOf } from './frames.js';
export { canonicalKey, jsonEqual, type JsonValue } from './json-value.js';
export { nobleCrypto, type CryptoProvider } from './crypto.js';
export { callServer, type ServerCaller } from './attach.js';
