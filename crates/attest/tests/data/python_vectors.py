"""Makes python_vectors.json: a simulated report and an HPKE answer produced with
Python's `cryptography` package (>= 48), the way the governed runner will, so the
Rust tests prove the formats interoperate. Run: python3 python_vectors.py > python_vectors.json
"""

import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def release_info(clean_room: str, run_id: str, secret_name: str) -> bytes:
    out = b"consort-attest/v1 secret"
    for part in (clean_room, run_id, secret_name):
        data = part.encode()
        out += struct.pack(">I", len(data)) + data
    return out


# The runner's one-off X25519 key, bound into report_data as SHA-256(public key) || 32 zero bytes.
one_off = x25519.X25519PrivateKey.generate()
one_off_public = one_off.public_key().public_bytes(**RAW)
report_data = hashlib.sha256(one_off_public).digest() + bytes(32)

# A simulated report: JSON payload, Ed25519 signature over its exact bytes, both base64.
attestation_key = ed25519.Ed25519PrivateKey.generate()
payload = json.dumps(
    {
        "version": 1,
        "platform": "simulated",
        "measurement": "5eed0000aa",
        "host_data": "00",
        "report_data": report_data.hex(),
        "debuggable": False,
        "issued_at": 1800000000,
    }
).encode()
report = json.dumps(
    {
        "payload": base64.b64encode(payload).decode(),
        "signature": base64.b64encode(attestation_key.sign(payload)).decode(),
    }
)

# An HPKE answer to the one-off key: base mode, X25519/HKDF-SHA256, HKDF-SHA256, AES-256-GCM.
suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
info = release_info("alpha", "run-42", "db-password")
sealed = suite.encrypt(b"hunter2", one_off.public_key(), info=info)

print(
    json.dumps(
        {
            "attestation_public_key": attestation_key.public_key().public_bytes(**RAW).hex(),
            "report": report,
            "one_off_public_key": one_off_public.hex(),
            "one_off_private_key": one_off.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            ).hex(),
            "info": info.hex(),
            "hpke_enc_and_ciphertext": sealed.hex(),
            "plaintext": "hunter2",
        },
        indent=2,
    )
)
