"""Builds the *test* SEV-SNP chain and CRLs in tests/data/test_chain/ (not AMD's: no genuine
AMD CRL is published in any public repository, and only AMD's ARK key can sign one).

A locally generated RSA-3072 "ARK" reuses the genuine ARK-Milan's subject name, signs an "ASK"
(again ARK-Milan's ASK name) and the ASK a P-384 "VCEK" with AMD's VCEK extensions (product
Milan-B0, the genuine report's TCB and chip id). The genuine Milan report's signed bytes are
re-signed with that VCEK's key, so the verifier runs its whole path (pinned ARK, chain, TCB
binding, chip id, CRL) against a root the tests pin with `SnpVerifier::with_pinned_arks`.
Every signature is RSASSA-PSS SHA-384 (MGF1 SHA-384, salt 48) as AMD's, or ECDSA P-384 SHA-384.

Run once (Python `cryptography` >= 41); the outputs are committed:
    python3 crates/attest/tests/data/make_test_chain.py
"""

import datetime
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ObjectIdentifier

HERE = pathlib.Path(__file__).parent
OUT = HERE / "test_chain"
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
# 2025-06-15, the `NOW` of the tests.
NOW = datetime.datetime(2025, 6, 15, 15, 6, 40, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
ASK_SERIAL = 0x010001
VCEK_SERIAL = 0x2A


def der_int(value):
    return bytes([0x02, 0x01, value]) if value < 0x80 else bytes([0x02, 0x02, 0x00, value])


def ia5(text):
    return bytes([0x16, len(text)]) + text.encode()


def certificate(subject, issuer, public_key, signer, serial, extensions=(), ca=False):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(NOW - 365 * DAY)
        .not_valid_after(NOW + 5 * 365 * DAY)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    for oid, value in extensions:
        builder = builder.add_extension(x509.UnrecognizedExtension(ObjectIdentifier(oid), value), critical=False)
    return builder.sign(signer, hashes.SHA384(), rsa_padding=PSS)


def crl(issuer, signer, revoked, this_update, next_update):
    builder = x509.CertificateRevocationListBuilder().issuer_name(issuer)
    builder = builder.last_update(this_update).next_update(next_update)
    for serial in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(signer, hashes.SHA384(), rsa_padding=PSS).public_bytes(serialization.Encoding.DER)


def main():
    OUT.mkdir(exist_ok=True)
    genuine_ark = x509.load_pem_x509_certificate((HERE / "milan_ark.pem").read_bytes())
    genuine_ask = x509.load_pem_x509_certificate((HERE / "milan_ask.pem").read_bytes())
    genoa_ark = x509.load_pem_x509_certificate((HERE / "genoa_ark.pem").read_bytes())
    report = bytearray.fromhex((HERE / "report_milan.hex").read_text().strip())

    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    vcek_key = ec.generate_private_key(ec.SECP384R1())
    ark_name, ask_name = genuine_ark.subject, genuine_ask.subject

    ark = certificate(ark_name, ark_name, ark_key.public_key(), ark_key, 0x010000, ca=True)
    ask = certificate(ask_name, ark_name, ask_key.public_key(), ark_key, ASK_SERIAL, ca=True)

    def vcek(snp_spl):
        tcb = [("1.3.6.1.4.1.3704.1.3.1", 3), ("1.3.6.1.4.1.3704.1.3.2", 0),
               ("1.3.6.1.4.1.3704.1.3.3", snp_spl), ("1.3.6.1.4.1.3704.1.3.8", 0x73)]
        extensions = [("1.3.6.1.4.1.3704.1.1", der_int(0)), ("1.3.6.1.4.1.3704.1.2", ia5("Milan-B0"))]
        extensions += [(oid, der_int(value)) for oid, value in tcb]
        extensions.append(("1.3.6.1.4.1.3704.1.4", bytes(report[0x1A0:0x1E0])))
        subject = x509.Name.from_rfc4514_string("CN=SEV-VCEK,O=Advanced Micro Devices,L=Santa Clara,ST=CA,C=US,OU=Engineering")
        return certificate(subject, ask_name, vcek_key.public_key(), ask_key, VCEK_SERIAL, extensions)

    # The report's signature: r and s little-endian in 72-byte fields at 0x2A0 and 0x2E8.
    r, s = utils.decode_dss_signature(vcek_key.sign(bytes(report[:0x2A0]), ec.ECDSA(hashes.SHA384())))
    report[0x2A0:0x4A0] = bytes(0x200)
    report[0x2A0:0x2A0 + 48] = r.to_bytes(48, "little")
    report[0x2E8:0x2E8 + 48] = s.to_bytes(48, "little")

    der = serialization.Encoding.DER
    (OUT / "ark.der").write_bytes(ark.public_bytes(der))
    (OUT / "ask.der").write_bytes(ask.public_bytes(der))
    (OUT / "vcek.der").write_bytes(vcek(8).public_bytes(der))
    # The same key certified for snpSPL 7 while the report says 8.
    (OUT / "vcek_snp7.der").write_bytes(vcek(7).public_bytes(der))
    (OUT / "report.hex").write_text(report.hex() + "\n")
    (OUT / "crl_current.der").write_bytes(crl(ark_name, ark_key, [0x0BAD], NOW - DAY, NOW + 7 * DAY))
    (OUT / "crl_ask_revoked.der").write_bytes(crl(ark_name, ark_key, [0x0BAD, ASK_SERIAL], NOW - DAY, NOW + 7 * DAY))
    (OUT / "crl_vcek_revoked.der").write_bytes(crl(ark_name, ark_key, [VCEK_SERIAL], NOW - DAY, NOW + 7 * DAY))
    (OUT / "crl_stale.der").write_bytes(crl(ark_name, ark_key, [], NOW - 30 * DAY, NOW - 2 * DAY))
    # Another product's CRL (ARK-Genoa's name): not the chain's.
    (OUT / "crl_genoa_named.der").write_bytes(crl(genoa_ark.subject, ark_key, [], NOW - DAY, NOW + 7 * DAY))
    # Same issuer name, signed by another key: its signature does not verify against the ARK.
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    (OUT / "crl_other_signer.der").write_bytes(crl(ark_name, other_key, [], NOW - DAY, NOW + 7 * DAY))


if __name__ == "__main__":
    main()
