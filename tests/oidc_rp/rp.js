// An independent OpenID Connect relying party for the hub's IdP tests: panva's openid-client
// (an OpenID-certified RP library), not the hub's own code, judges every response.
//
//   node rp.js   then one JSON command per line on stdin, one JSON answer per line on stdout.
//
// Commands (each answers {"ok": true, ...} or {"ok": false, "error": name, "code": oauth error, "message"}):
//   {"cmd": "discover", "issuer", "client_id", "client_secret", "auth": "basic"|"post"}
//   {"cmd": "authorize_url", "redirect_uri", "scope"}             -> {url}; keeps verifier, state, nonce
//   {"cmd": "callback", "url"}                                      -> {claims, access_token, refresh_token, id_token}
//   {"cmd": "userinfo", "access_token", "sub"}                      -> {userinfo}
//   {"cmd": "refresh", "refresh_token"}                             -> {claims?, access_token, refresh_token}
//   {"cmd": "logout_url", "id_token", "post_logout_redirect_uri", "state"} -> {url}
//   {"cmd": "revoke", "token", "hint"}                               -> {} (RFC 7009 via openid-client)
//   {"cmd": "verify_id_token", "id_token"}  -> {claims}: the signature against the issuer's JWKS (jose)
//
// ID token signatures are checked against the JWKS (enableNonRepudiationChecks), so key rotation
// is tested by the RP, not assumed. http is allowed because the hub listens on loopback.
import * as client from 'openid-client';
import * as jose from 'jose';
import readline from 'node:readline';

let config = null;
let pending = null;
let jwks = null;

const handlers = {
  async discover(m) {
    const auth = m.auth === 'post' ? client.ClientSecretPost(m.client_secret) : client.ClientSecretBasic(m.client_secret);
    config = await client.discovery(new URL(m.issuer), m.client_id, undefined, auth,
      { execute: [client.allowInsecureRequests] });
    client.enableNonRepudiationChecks(config);
    jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri), { cooldownDuration: 0 });
    return { metadata: config.serverMetadata() };
  },
  async authorize_url(m) {
    const verifier = client.randomPKCECodeVerifier();
    pending = { verifier, state: client.randomState(), nonce: client.randomNonce() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: m.redirect_uri, scope: m.scope || 'openid profile email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      state: pending.state, nonce: pending.nonce, ...(m.extra || {}),
    });
    return { url: url.href, state: pending.state, nonce: pending.nonce, verifier };
  },
  async callback(m) {
    const tokens = await client.authorizationCodeGrant(config, new URL(m.url), {
      pkceCodeVerifier: m.verifier || pending.verifier, expectedState: pending.state,
      expectedNonce: pending.nonce, idTokenExpected: true,
    });
    return { claims: tokens.claims(), access_token: tokens.access_token, refresh_token: tokens.refresh_token,
             id_token: tokens.id_token, expires_in: tokens.expiresIn() };
  },
  async userinfo(m) {
    return { userinfo: await client.fetchUserInfo(config, m.access_token, m.sub) };
  },
  async refresh(m) {
    const tokens = await client.refreshTokenGrant(config, m.refresh_token);
    return { claims: tokens.claims() || null, access_token: tokens.access_token,
             refresh_token: tokens.refresh_token, id_token: tokens.id_token || null };
  },
  async logout_url(m) {
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: m.id_token, post_logout_redirect_uri: m.post_logout_redirect_uri, state: m.state,
    });
    return { url: url.href };
  },
  async revoke(m) {
    await client.tokenRevocation(config, m.token, m.hint ? { token_type_hint: m.hint } : undefined);
    return {};
  },
  async verify_id_token(m) {
    const { payload, protectedHeader } = await jose.jwtVerify(m.id_token, jwks, {
      issuer: config.serverMetadata().issuer, audience: config.clientMetadata().client_id, algorithms: ['RS256'],
    });
    return { claims: payload, kid: protectedHeader.kid };
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const message = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, ...(await handlers[message.cmd](message)) };
  } catch (err) {
    answer = { ok: false, error: err.name, code: err.error || err.code || null, message: err.message,
               status: err.status || null };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
