# Makes the pycose-*.cbor requests of ../ (pycose 1.1.0, cryptography, cbor2):
#   python make.py ../openssl   (run in this folder)
# Another COSE implementation signing consort governance requests with the OpenSSL test keys.
import hashlib, sys
from cryptography.hazmat.primitives import serialization
from pycose.messages import Sign1Message
from pycose.headers import Algorithm, KID
from pycose.algorithms import Es256, EdDSA
from pycose.keys import CoseKey

def request(pem_path, alg, out):
    pem = open(pem_path, "rb").read()
    private = serialization.load_pem_private_key(pem, password=None)
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(spki).hexdigest().encode()
    msg = Sign1Message(
        phdr={Algorithm: alg, KID: kid,
              "consort.member_id": "m-1", "consort.msg.type": "ballot",
              "consort.cleanroom": "room-a", "consort.created_at": 1790000000,
              "consort.proposal_id": "p-1"},
        payload=b'{"ballot":"approve"}')
    msg.key = CoseKey.from_pem_private_key(pem.decode())
    open(out, "wb").write(msg.encode())

D = sys.argv[1]
request(D + "/p256-sec1.pem", Es256, "pycose-es256-ballot.cbor")
request(D + "/ed25519-openssl.pem", EdDSA, "pycose-eddsa-ballot.cbor")
