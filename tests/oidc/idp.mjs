// A real OpenID provider for tests/tests/sso_oidc.rs: node's oidc-provider (OpenID-certified)
// with its development login form (any password for a known user), PKCE required.
//
//   PORT          where to listen on 127.0.0.1 (0: any free port; the port is printed)
//   REDIRECT_URI  the Terrace server's callback
//   USERS_FILE    JSON {"account": {claims...}}, read on every sign-in (so a test changes a
//                 user's groups "at the IdP" by rewriting it)
//   TAMPER_FILE   optional: one word read on every token request; when set, the ID token of the
//                 token response is altered before it leaves, as an attacker in the middle or a
//                 misbehaving provider would: nonce, issuer, audience, expired (re-signed with
//                 the provider's own key) or signature (signed with another key).
import fs from 'node:fs';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const redirectUri = process.env.REDIRECT_URI;
const usersFile = process.env.USERS_FILE;
const tamperFile = process.env.TAMPER_FILE;

const readUsers = () => JSON.parse(fs.readFileSync(usersFile, 'utf8'));
const tamper = () => {
  try { return fs.readFileSync(tamperFile, 'utf8').trim(); } catch { return ''; }
};

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'idp-key', alg: 'RS256', use: 'sig' };
const { privateKey: otherKey } = await jose.generateKeyPair('RS256', { extractable: true });

const server = (await import('node:http')).createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'terrace',
    client_secret: 'terrace-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingJwk] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Claims in the ID token itself, not only at userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  findAccount: async (ctx, id) => {
    const users = readUsers();
    if (!users[id]) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...users[id] }) };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['test-cookie-key'] },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  await next();
  const mode = tamper();
  if (!mode || ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  let key = privateKey;
  if (mode === 'nonce') claims.nonce = 'not-the-nonce-terrace-sent';
  else if (mode === 'issuer') claims.iss = 'http://127.0.0.1:1/not-the-issuer';
  else if (mode === 'audience') claims.aud = 'another-client';
  else if (mode === 'expired') { claims.iat -= 7200; claims.exp = claims.iat + 60; }
  else if (mode === 'signature') key = otherKey;
  ctx.body = { ...ctx.body, id_token: await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'idp-key', typ: 'JWT' }).sign(key) };
});

server.on('request', provider.callback());
console.log(`listening ${issuer}`);
