// Verifies a ledger receipt (consort-ledger-receipt/1) in the browser, with WebCrypto only and
// the clean room's public key: the same steps as `consort ledger verify-receipt`, byte for byte
// as docs/ledger.md gives them. The server is not trusted to say its own receipt is good.

const FORMAT = 'consort-ledger-receipt/1';
const ROOT_DOMAIN = 'consort-ledger-root-v1\0';
// An Ed25519 SubjectPublicKeyInfo is this 12-byte prefix and the 32-byte key (RFC 8410).
const ED25519_SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

const utf8 = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function unhex(text, what) {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text)) throw new Error(`${what} is not 64 hex digits`);
  return Uint8Array.from(text.match(/../g), (b) => parseInt(b, 16));
}

function unbase64(text, what) {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new Error(`${what} is not base64`);
  }
}

async function sha256(...parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(length);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

/** The raw 32-byte Ed25519 key from a PEM public key. */
export function rawKeyFromPem(pem) {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const der = unbase64(body, 'the public key');
  const prefixOk = der.length === 44 && ED25519_SPKI_PREFIX.every((b, i) => der[i] === b);
  if (!prefixOk) throw new Error('the public key is not an Ed25519 SubjectPublicKeyInfo');
  return der.slice(12);
}

/** The leaf bytes: canonical JSON of the entry's five fields, keys in this order. */
export function leafBytes(entry) {
  // JSON.stringify escapes strings as the ledger does (", \, control characters; / left alone).
  const canonical = `{"at_ms":${entry.at_ms},"body":${JSON.stringify(entry.body)},"cleanroom":${JSON.stringify(entry.cleanroom)},` +
    `"kind":${JSON.stringify(entry.kind)},"seq":${entry.seq}}`;
  return utf8.encode(canonical);
}

/** The bytes a root's signature covers (integers big-endian). */
function rootMessage(root, rootHash) {
  const name = utf8.encode(root.cleanroom);
  const domain = utf8.encode(ROOT_DOMAIN);
  const out = new Uint8Array(domain.length + 4 + name.length + 8 + 32 + 8);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(domain, at); at += domain.length;
  view.setUint32(at, name.length); at += 4;
  out.set(name, at); at += name.length;
  view.setBigUint64(at, BigInt(root.size)); at += 8;
  out.set(rootHash, at); at += 32;
  view.setBigInt64(at, BigInt(root.at_ms));
  return out;
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to from a leaf hash. */
async function rootFromInclusion(index, size, leafHash, proof) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leafHash;
  const node = Uint8Array.of(1);
  for (const p of proof) {
    if (sn === 0n) throw new Error('the proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(node, p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await sha256(node, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is shorter than the tree is deep');
  return r;
}

/**
 * Verifies `receipt` against the PEM `publicKeyPem`. Resolves to {ok: true, seq, size, keyId}
 * or {ok: false, step, reason}: the step that failed, as the CLI names them.
 */
export async function verifyReceipt(receipt, publicKeyPem) {
  const fail = (step, reason) => ({ ok: false, step, reason });
  try {
    if (!receipt || receipt.format !== FORMAT) return fail('format', `not a ${FORMAT} receipt`);
    const { entry, root } = receipt;
    if (!entry || !root) return fail('format', 'the receipt lacks its entry or root');
    if (entry.cleanroom !== root.cleanroom) return fail('cleanroom', 'the entry and the root are of different clean rooms');
    if (!(entry.seq < root.size)) return fail('coverage', `entry ${entry.seq} is not under a root of size ${root.size}`);
    const raw = rawKeyFromPem(publicKeyPem);
    const keyId = hex(await sha256(raw));
    if (root.key_id !== keyId) return fail('key', `the root was signed by key ${root.key_id}, not this clean room's ${keyId}`);
    const rootHash = unhex(root.root, 'the root');
    const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    const signed = await crypto.subtle.verify({ name: 'Ed25519' }, key, unbase64(root.signature, 'the signature'),
      rootMessage(root, rootHash));
    if (!signed) return fail('signature', 'the root\'s signature does not verify with the clean room\'s key');
    const leaf = await sha256(Uint8Array.of(0), leafBytes(entry));
    if (hex(leaf) !== receipt.leaf_hash) return fail('leaf', 'the entry does not hash to the receipt\'s leaf hash (edited)');
    const proof = (receipt.proof || []).map((p, i) => unhex(p, `proof hash ${i}`));
    const computed = await rootFromInclusion(entry.seq, root.size, leaf, proof);
    if (hex(computed) !== root.root) return fail('inclusion', 'the inclusion proof does not lead to the signed root');
    return { ok: true, seq: entry.seq, size: root.size, keyId };
  } catch (e) {
    return fail('format', e.message);
  }
}
