// A real OpenID Connect provider (the `oidc-provider` package) for the sign-in tests, on
// loopback: one confidential client (the control plane), the authorization code flow with
// PKCE, the device flow and refresh tokens; its own dev sign-in pages (any password).
//
// Users and their groups are read from a JSON file at every sign-in and refresh
// ({"alice": {"email": "…", "groups": ["…"]}}), so a test can take someone out of a group.
//
//   OIDC_PORT OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_REDIRECT_URI OIDC_USERS node provider.mjs
// prints `issuer: http://127.0.0.1:PORT` once it serves.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
};
const port = Number(need('OIDC_PORT'));
const users = need('OIDC_USERS');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: need('OIDC_CLIENT_ID'),
      client_secret: need('OIDC_CLIENT_SECRET'),
      redirect_uris: [need('OIDC_REDIRECT_URI')],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  // Scope claims in the ID token itself (the control plane reads the groups there).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
  // Every sign-in of a client allowed refresh tokens gets one.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: { keys: ['cloudops-test-provider-cookie-key'] },
  async findAccount(_ctx, id) {
    const known = JSON.parse(readFileSync(users, 'utf8'))[id];
    if (!known) return undefined;
    return {
      accountId: id,
      async claims() {
        // Read again: group changes show at the next refresh.
        const now = JSON.parse(readFileSync(users, 'utf8'))[id] || {};
        return { sub: id, email: now.email, email_verified: true, name: id, groups: now.groups || [] };
      },
    };
  },
});

const server = http.createServer(provider.callback());
server.listen(port, '127.0.0.1', () => console.log(`issuer: ${issuer}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
