// Keys for the OIDC rig, with node's own crypto (no dependency):
//   node keygen.mjs TYPE KID [ALG]   prints a private JWK; TYPE one of rsa, ec-p256,
//                                    ec-p384, ed25519
//   node keygen.mjs public-forms JWK prints the public key of a JWK (JSON) in the forms an
//                                    HS256 forger would try as the "secret": SPKI and
//                                    PKCS#1 as PEM and as base64 DER
import { createPublicKey, generateKeyPairSync } from 'node:crypto';

const [type, arg, alg] = process.argv.slice(2);
if (type === 'public-forms') {
  const key = createPublicKey({ key: JSON.parse(arg), format: 'jwk' });
  const forms = {
    spki_pem: key.export({ type: 'spki', format: 'pem' }),
    pkcs1_pem: key.export({ type: 'pkcs1', format: 'pem' }),
    spki_der: key.export({ type: 'spki', format: 'der' }).toString('base64'),
    pkcs1_der: key.export({ type: 'pkcs1', format: 'der' }).toString('base64'),
  };
  process.stdout.write(`${JSON.stringify(forms)}\n`);
  process.exit(0);
}
const params = {
  rsa: ['rsa', { modulusLength: 2048 }],
  'ec-p256': ['ec', { namedCurve: 'P-256' }],
  'ec-p384': ['ec', { namedCurve: 'P-384' }],
  ed25519: ['ed25519', {}],
}[type];
if (!params || !arg) {
  console.error('usage: node keygen.mjs rsa|ec-p256|ec-p384|ed25519 KID [ALG] | public-forms JWK');
  process.exit(2);
}
const { privateKey } = generateKeyPairSync(...params);
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: arg, use: 'sig', ...(alg ? { alg } : {}) };
process.stdout.write(`${JSON.stringify(jwk)}\n`);
