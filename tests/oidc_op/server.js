// A real OpenID Provider (panva's oidc-provider) for the hub's generic-OIDC tests.
//
//   OP_CLIENT_ID=... OP_CLIENT_SECRET=... OP_REDIRECT_URIS="uri1 uri2" node server.js [port]
//
// Listens on 127.0.0.1 (port from argv, OP_PORT, or 0 = any free port); the issuer is
// http://127.0.0.1:<port>. oidc-provider accepts an http issuer and http redirect URIs for
// code-flow web clients; it only insists on https for implicit-flow clients, which we do not use.
// When ready it prints one JSON line ({"issuer": ..., "port": ...}) on stdout.
//
// Test-only admin endpoints under /_test/ (never part of a real OP):
//   GET  /_test/state    issuer, signing and published kids, request counts, token auth seen,
//                        time spent serving requests (busy_ms)
//   POST /_test/keys     {"published": ["k1", "k2"], "signing": "k2"}: unknown kids get a fresh RSA key;
//                        a signing kid left out of "published" signs but is never served (a forged key)
//   POST /_test/client   {"redirect_uris": [...]}
//   POST /_test/reset    back to the start-up keys and client, counters zeroed;
//                        {"trailing_slash": true} makes the issuer end in "/" as Auth0's does
//
// Key rotation while running: oidc-provider reads its key set once, when a Provider is built, and
// signs with the first key that fits the algorithm. So a change of keys builds a new Provider with
// the published keys in order (signing key first) and swaps it in behind the same HTTP server.
// Sessions, interactions and codes live in oidc-provider's in-memory adapter, which is shared by
// every Provider in this process, and the cookie keys stay the same: a login begun before a
// rotation finishes after it.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const CLIENT_ID = process.env.OP_CLIENT_ID || 'hub-client';
const CLIENT_SECRET = process.env.OP_CLIENT_SECRET || 'hub-secret';
const START_REDIRECT_URIS = (process.env.OP_REDIRECT_URIS || 'http://127.0.0.1/callback').split(/[\s,]+/).filter(Boolean);
const PORT = Number(process.argv[2] ?? process.env.OP_PORT ?? 0);
const COOKIE_KEYS = ['test-op-cookie-key-not-secret'];

// The accounts findAccount knows; devInteractions' login form takes the account id as "login".
const ACCOUNTS = {
  'op-user-1': { email: 'ophelia@op.example', email_verified: true, name: 'Ophelia Provider' },
  'op-user-2': { email: 'otto@op.example', email_verified: false, name: 'Otto Unverified' },
};

const privateKeys = new Map(); // kid -> private JWK
let published = [];
let signing = null;
let redirectUris = START_REDIRECT_URIS;
let current = null; // { provider, handle }
let counts = {};
let tokenAuth = [];
let trailingSlash = false; // Auth0-style issuer, "http://127.0.0.1:<port>/"
let busyMs = 0; // time spent answering the hub and the browser, for the test run's cost report

function keyFor(kid) {
  if (!privateKeys.has(kid)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKeys.set(kid, { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
  }
  return privateKeys.get(kid);
}

function publicJwks() {
  const strip = ({ d, p, q, dp, dq, qi, ...pub }) => pub;
  return { keys: published.map((kid) => strip(keyFor(kid))) };
}

function build(issuer) {
  const order = [signing, ...published.filter((kid) => kid !== signing)];
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: order.map(keyFor) },
    cookies: { keys: COOKIE_KEYS },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    async findAccount(ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...account }; } };
    },
    features: { devInteractions: { enabled: true } },
    // PKCE is allowed (S256 advertised) but not required of a confidential client.
    pkce: { required: () => false },
    ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60 },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  current = { provider, handle: provider.callback() };
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data ? JSON.parse(data) : {};
}

function state(issuer) {
  return { issuer, signing, published, counts, token_auth: tokenAuth, busy_ms: busyMs };
}

function reset(base, slash = false) {
  trailingSlash = slash;
  const issuer = base + (slash ? '/' : '');
  published = ['key-1'];
  signing = 'key-1';
  redirectUris = START_REDIRECT_URIS;
  counts = {};
  tokenAuth = [];
  busyMs = 0;
  build(issuer);
}

async function admin(req, res, base) {
  const path = new URL(req.url, base).pathname;
  const issuer = base + (trailingSlash ? '/' : '');
  if (req.method === 'GET' && path === '/_test/state') return json(res, 200, state(issuer));
  if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });
  const body = await readJson(req);
  if (path === '/_test/keys') {
    if (!Array.isArray(body.published) || typeof body.signing !== 'string') {
      return json(res, 400, { error: 'give "published" (a list of kids) and "signing" (a kid)' });
    }
    published = body.published;
    signing = body.signing;
  } else if (path === '/_test/client') {
    redirectUris = body.redirect_uris;
  } else if (path === '/_test/reset') {
    reset(base, Boolean(body.trailing_slash));
    return json(res, 200, state(base + (trailingSlash ? '/' : '')));
  } else {
    return json(res, 404, { error: 'no such test endpoint' });
  }
  build(issuer);
  return json(res, 200, state(issuer));
}

const server = createServer((req, res) => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const path = req.url.split('?')[0];
  if (path.startsWith('/_test/')) {
    admin(req, res, base).catch((err) => json(res, 500, { error: String(err) }));
    return;
  }
  counts[`${req.method} ${path}`] = (counts[`${req.method} ${path}`] || 0) + 1;
  const began = process.hrtime.bigint();
  res.on('finish', () => { busyMs += Number(process.hrtime.bigint() - began) / 1e6; });
  if (req.method === 'GET' && path === '/jwks') {
    // Served here rather than by oidc-provider, which would publish every key it holds: this lets a
    // test sign with a key that is not (or not yet) published.
    return json(res, 200, publicJwks());
  }
  if (path === '/token') {
    // How the client authenticated: Basic header (client_secret_basic) or client_id in the body.
    tokenAuth.push((req.headers.authorization || '').split(' ')[0].toLowerCase() || 'none');
  }
  current.handle(req, res);
});

server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  reset(issuer);
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
