import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../server/index.js';

describe('Authenticator configuration', () => {
  it('refuses a JWT secret under 32 bytes with ERR_KEY_INVALID', () => {
    expect(() => new Authenticator({ secret: 'short' })).toThrow(expect.objectContaining({ code: 'ERR_KEY_INVALID' }));
  });

  it.each(['not a url', 'file:///etc/jwks.json'])('refuses a JWKS URL that is not http(s) with ERR_KEY_INVALID: %s', (jwksUrl) => {
    expect(() => new Authenticator({ jwksUrl })).toThrow(expect.objectContaining({ code: 'ERR_KEY_INVALID' }));
  });
});
