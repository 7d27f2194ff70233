// Prints a private JWK for the OIDC rig's key sets: `node keygen.mjs TYPE KID [ALG]`,
// TYPE one of rsa, ec-p256, ec-p384, ed25519. Node's own crypto, no dependency.
import { generateKeyPairSync } from 'node:crypto';

const [type, kid, alg] = process.argv.slice(2);
const params = {
  rsa: ['rsa', { modulusLength: 2048 }],
  'ec-p256': ['ec', { namedCurve: 'P-256' }],
  'ec-p384': ['ec', { namedCurve: 'P-384' }],
  ed25519: ['ed25519', {}],
}[type];
if (!params || !kid) {
  console.error('usage: node keygen.mjs rsa|ec-p256|ec-p384|ed25519 KID [ALG]');
  process.exit(2);
}
const { privateKey } = generateKeyPairSync(...params);
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', ...(alg ? { alg } : {}) };
process.stdout.write(`${JSON.stringify(jwk)}\n`);
