// A real OpenID provider for the SSO tests: panva's oidc-provider on
// loopback, with one confidential client (em-metrics) and three test users.
// Its development login form takes any password; the login is the user.
//
//   PORT=... CLIENT_ID=... CLIENT_SECRET=... REDIRECT_URI=... node provider.mjs
//
// Prints "oidc-provider ready on <issuer>" once it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

// reader: in the read group; admin: in the admin group; outsider: in neither.
const users = {
  reader: { email: 'reader@example.com', groups: ['metrics-readers'] },
  admin: { email: 'admin@example.com', groups: ['metrics-admins', 'metrics-readers'] },
  outsider: { email: 'outsider@example.com', groups: ['sales'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['groups'] },
  // The groups and the email in the ID token itself, as IdPs configured
  // for group claims put them.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['em-metrics-test-cookie-key'] },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: user.email, email_verified: true, groups: user.groups };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready on ${issuer}`);
});
