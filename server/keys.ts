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
    const saved = await store.getSetting(storeKeysSetting);
    if (saved !== undefined) jwks = JSON.parse(saved) as JWK[];
    else {
      jwks = [await Keyring.generateJwk()];
      await store.setSetting(storeKeysSetting, JSON.stringify(jwks));
    }
  }
  return Keyring.fromJwks(jwks);
}
