import type { JWK } from 'jose';
import { Keyring } from '../protocol/keyring.js';
import type { ObjectStore } from './store/types.js';

const storeKeysSetting = 'capability-keys';

/**
 * The capability keyring: the configured keys, else the ones kept in the store, else a new key generated
 * now and kept there, so capabilities survive a restart on the same store.
 */
export async function loadKeyring(store: ObjectStore, configured: readonly JWK[] | undefined): Promise<Keyring> {
  let jwks = configured;
  if (jwks === undefined) {
    jwks = JSON.parse(await settingOnce(store, storeKeysSetting, async () => JSON.stringify([await Keyring.generateJwk()]))) as JWK[];
  }
  return Keyring.fromJwks(jwks);
}

/**
 * A setting made once per store: the saved value, else `make()` stored now. On a store several nodes share
 * (`setSettingIfAbsent`), two nodes starting on an empty store agree: the first writer wins, the other loads it.
 */
export async function settingOnce(store: ObjectStore, name: string, make: () => string | Promise<string>): Promise<string> {
  const saved = await store.getSetting(name);
  if (saved !== undefined) return saved;
  const value = await make();
  if (store.setSettingIfAbsent !== undefined) return store.setSettingIfAbsent(name, value);
  await store.setSetting(name, value);
  return value;
}
