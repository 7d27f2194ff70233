//! Vectors produced by Python's `cryptography` package (tests/data/python_vectors.py),
//! the governed runner's library: its simulated report and HPKE answer must be
//! accepted here unchanged.

use consort_attest::{
    AttestationVerifier, SimulatedVerifier, WrappedAnswer, bind_check, release_info, unwrap_with, wrap,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/python_vectors.json")).unwrap()
}

fn hex_field(vectors: &Value, name: &str) -> Vec<u8> {
    hex::decode(vectors[name].as_str().unwrap()).unwrap()
}

#[test]
fn python_simulated_report_verifies_and_binds_its_key() {
    let vectors = vectors();
    let verifier = SimulatedVerifier::new(&hex_field(&vectors, "attestation_public_key")).unwrap();
    let claims = verifier.verify(vectors["report"].as_str().unwrap().as_bytes(), 1_800_000_000).unwrap();
    assert_eq!(claims.measurement, "5eed0000aa");
    assert_eq!(claims.host_data, "00");
    assert_eq!(bind_check(&claims, &hex_field(&vectors, "one_off_public_key")), Ok(()));
}

#[test]
fn python_info_string_is_ours() {
    assert_eq!(hex_field(&vectors(), "info"), release_info("alpha", "run-42", "db-password"));
}

#[test]
fn python_hpke_answer_unwraps() {
    let vectors = vectors();
    let sealed = hex_field(&vectors, "hpke_enc_and_ciphertext");
    // cryptography's Suite.encrypt returns enc ‖ ciphertext.
    let (enc, ciphertext) = sealed.split_at(wrap::PUBLIC_KEY_LEN);
    let answer = WrappedAnswer { enc: enc.to_vec(), ciphertext: ciphertext.to_vec() };
    let secret =
        unwrap_with(&hex_field(&vectors, "one_off_private_key"), &hex_field(&vectors, "info"), &answer).unwrap();
    assert_eq!(secret.expose(), b"hunter2");
}
