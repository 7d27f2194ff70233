// The OIDC rig: a real OpenID provider (the certified `oidc-provider` package) for
// consort-auth's JWT tests. Issuer http://127.0.0.1:PORT; the client_credentials grant
// issues JWT access tokens (RFC 9068) for any https resource indicator, which becomes
// the token's `aud`.
//
//   node server.mjs --port PORT --keys KEYS.json --clients CLIENTS.json
//                   [--access-token-ttl SECS] [--node-modules DIR]
//
// KEYS.json: a JWKS of private keys (`keygen.mjs` makes them); the first key of a type
// signs, so restarting with another file rotates keys. CLIENTS.json: an array of
//   { "client_id", "client_secret", "alg"?: "RS256", "kid"?, "claims"?: {...},
//     "nbf_offset_secs"? }
// where `claims` are added to every access token of the client (e.g. `groups`) and
// `nbf_offset_secs` adds `nbf = iat + offset`. DIR holds the npm dependencies
// (scripts/setup.d/45-oidc-provider.sh installs them under $CONSORT_CACHE).
// GET /rig/stats answers how often discovery and the JWKS were requested.
// Prints `oidc rig ready on ISSUER` once it listens.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (!name.startsWith('--') || value === undefined) {
      console.error(`bad argument ${name}: see the usage at the top of server.mjs`);
      process.exit(2);
    }
    args[name.slice(2)] = value;
  }
  for (const required of ['port', 'keys', 'clients']) {
    if (!args[required]) {
      console.error(`--${required} is required: see the usage at the top of server.mjs`);
      process.exit(2);
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const here = dirname(fileURLToPath(import.meta.url));
const modules = args['node-modules'] ?? join(here, 'node_modules');
const require = createRequire(join(modules, '..', 'package.json'));
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;
const ttl = Number(args['access-token-ttl'] ?? 300);
const jwks = JSON.parse(readFileSync(args.keys, 'utf8'));
const clients = JSON.parse(readFileSync(args.clients, 'utf8'));
const byId = new Map(clients.map((c) => [c.client_id, c]));

const provider = new Provider(issuer, {
  jwks,
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        const c = byId.get(client.clientId);
        return {
          scope: 'api',
          audience: resourceIndicator,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: c.alg ?? 'RS256', ...(c.kid ? { kid: c.kid } : {}) } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => byId.get(token.clientId)?.claims,
  formats: {
    customizers: {
      jwt: (ctx, token, jwt) => {
        const offset = byId.get(token.clientId)?.nbf_offset_secs;
        if (offset !== undefined) jwt.payload.nbf = jwt.payload.iat + offset;
      },
    },
  },
  ttl: { ClientCredentials: ttl },
});

const stats = { discovery_requests: 0, jwks_requests: 0 };
const handle = provider.callback();
const server = createServer((req, res) => {
  if (req.url === '/rig/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url.startsWith('/.well-known/openid-configuration')) stats.discovery_requests += 1;
  if (req.url.startsWith('/jwks')) stats.jwks_requests += 1;
  handle(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`oidc rig ready on ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
