"""Simulated attestation (docs/attestation.md) and the HPKE answers the server seals to the runner.

The runner makes one X25519 key per run; the report binds it (report_data = SHA-256(public key)
|| 32 zero bytes), and the session token and every secret come back sealed to it.
"""

import base64
import hashlib
import json
import struct
import time

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from .errors import RunnerError

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
ENC_LEN = 32  # X25519's encapsulated key
_RAW_PUBLIC = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def _labelled(label: bytes, *parts: str) -> bytes:
    out = label
    for part in parts:
        data = part.encode("utf-8")
        out += struct.pack(">I", len(data)) + data
    return out


def session_info(cleanroom: str, run: str) -> bytes:
    """HPKE info of the session token: "consort-run/v1 session" || len || cleanroom || len || run."""
    return _labelled(b"consort-run/v1 session", cleanroom, run)


def release_info(cleanroom: str, run: str, secret_name: str) -> bytes:
    """HPKE info of a released secret (consort_attest's release_info)."""
    return _labelled(b"consort-attest/v1 secret", cleanroom, run, secret_name)


def report_data(one_off_public: bytes) -> bytes:
    return hashlib.sha256(one_off_public).digest() + bytes(32)


def load_tee_key(path: str) -> ed25519.Ed25519PrivateKey:
    """The simulated TEE's Ed25519 attestation key (PKCS#8 DER)."""
    try:
        with open(path, "rb") as f:
            der = f.read()
    except OSError as e:
        raise RunnerError("attestation_failed", f"cannot read the TEE key file ({e.strerror})", "--tee-key", "pass a readable file") from None
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise RunnerError(
            "attestation_failed", "the TEE key file is not a PKCS#8 DER private key", "--tee-key",
            "pass the Ed25519 PKCS#8 (DER) attestation key",
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise RunnerError("attestation_failed", "the TEE key is not an Ed25519 key", "--tee-key", "pass the Ed25519 attestation key")
    return key


def simulated_evidence(tee_key, measurement: str, host_data: str, one_off_public: bytes, now=None) -> bytes:
    """A version-1 simulated report: {"payload", "signature"}, the signature over the payload's bytes."""
    payload = json.dumps(
        {
            "version": 1,
            "platform": "simulated",
            "measurement": measurement,
            "host_data": host_data,
            "report_data": report_data(one_off_public).hex(),
            "debuggable": False,
            "issued_at": int(time.time() if now is None else now),
        }
    ).encode("utf-8")
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode("ascii"),
            "signature": base64.b64encode(tee_key.sign(payload)).decode("ascii"),
        }
    ).encode("utf-8")


class OneOffKey:
    """The run's X25519 key: its public half goes in the report, answers are sealed to it."""

    def __init__(self):
        self._private = x25519.X25519PrivateKey.generate()
        self.public_bytes = self._private.public_key().public_bytes(**_RAW_PUBLIC)

    def __repr__(self):
        return "OneOffKey(<private>)"

    def open(self, answer, info: bytes, what: str) -> bytes:
        """Opens an answer {"enc", "ciphertext"} (base64) sealed to this key with `info`."""
        try:
            enc = base64.b64decode(answer["enc"], validate=True)
            ciphertext = base64.b64decode(answer["ciphertext"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise RunnerError(
                "attestation_failed", f"the server's {what} is not {{\"enc\", \"ciphertext\"}} in base64", what,
                "check the server speaks docs/cleanroom-runs.md",
            ) from None
        if len(enc) != ENC_LEN:
            raise RunnerError("attestation_failed", f"the {what}'s enc is {len(enc)} bytes, not {ENC_LEN}", what, "check the server's HPKE suite")
        try:
            return SUITE.decrypt(enc + ciphertext, self._private, info=info)
        except Exception:
            raise RunnerError(
                "attestation_failed", f"the {what} does not open with this run's key and info", what,
                "the answer was sealed for another run, key or name",
            ) from None
