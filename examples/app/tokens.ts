// #region tokens
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { CapsyncServer } from '../../server/index.js';

// 1. capsync signs (needs auth.secret): call it from your own login route, once the password checked out.
export function issueWithCapsync(server: CapsyncServer, userId: string): Promise<string> {
  return server.auth.issue({ id: userId, roles: ['writer'] }, 3600); // claims: sub = userId, roles, exp in 1 h
}

// 2. Your auth service signs the same claims with the same secret (any HS256 JWT library).
export function issueElsewhere(secret: string, userId: string): Promise<string> {
  return new SignJWT({ roles: ['writer'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setExpirationTime('1h') // required: a JWT without exp is refused
    .sign(new TextEncoder().encode(secret));
}

// 3. An identity provider with asymmetric keys: the server holds only its public keys (a JWKS).
export async function serverTrustingIdp(): Promise<{ server: CapsyncServer; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256'); // the provider's; you never see the private key
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' }] };
  const server = await CapsyncServer.create({
    auth: { jwks, issuer: 'https://idp.example', audience: 'notes' }, // or jwksUrl: 'https://idp.example/.well-known/jwks.json'
  });
  const token = await new SignJWT({ roles: ['writer'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
    .setIssuer('https://idp.example')
    .setAudience('notes')
    .setSubject('ada')
    .setExpirationTime('1h')
    .sign(privateKey);
  return { server, token };
}
// #endregion
