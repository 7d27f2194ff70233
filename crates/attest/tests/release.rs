//! Releasing a sealed secret through the simulated TEE, end to end, and every
//! refusal the integrator relies on.

use consort_attest::simulated::SimulatedReport;
use consort_attest::{
    AttestError, Grant, OneOffKeyPair, Policy, ReleaseRequest, SealedSecret, SealingKey, SimulatedTee,
    SimulatedVerifier, StaticKeyProvider, release, release_info, report_data_for, seal, secret_binding, unwrap_with,
};

const NOW: i64 = 1_800_000_000;
const MEASUREMENT: &str = "5eed0000aa";

struct World {
    tee: SimulatedTee,
    verifier: SimulatedVerifier,
    provider: StaticKeyProvider,
    sealed: SealedSecret,
    grant: Grant,
    runner_key: OneOffKeyPair,
}

fn world() -> World {
    let (tee, _) = SimulatedTee::generate().unwrap();
    let verifier = SimulatedVerifier::new(&tee.public_key()).unwrap();
    let key = SealingKey::new("k1", &[9u8; 32]).unwrap();
    let sealed = seal(&key, &secret_binding("alpha", "db-password"), b"hunter2").unwrap();
    let provider = StaticKeyProvider::new(vec![key]).unwrap();
    let grant = Grant {
        clean_room: "alpha".into(),
        secret_name: "db-password".into(),
        run_id: "run-42".into(),
        policy: Policy { measurements: vec![MEASUREMENT.into()], ..Policy::default() },
    };
    World { tee, verifier, provider, sealed, grant, runner_key: OneOffKeyPair::generate() }
}

impl World {
    fn report(&self, measurement: &str, bound_key: &[u8]) -> Vec<u8> {
        self.tee
            .issue(&SimulatedReport {
                measurement: measurement.into(),
                host_data: "00".into(),
                report_data: report_data_for(bound_key),
                debuggable: false,
                issued_at: NOW,
            })
            .unwrap()
    }

    fn ask(&self, run_id: &str, evidence: &[u8], key: &[u8]) -> Result<consort_attest::WrappedAnswer, AttestError> {
        let request = ReleaseRequest { run_id, evidence, one_off_public_key: key };
        release(&self.grant, &request, &self.verifier, &self.provider, &self.sealed, NOW).map(|(answer, _)| answer)
    }
}

#[test]
fn attested_runner_gets_the_secret_only_it_can_open() {
    let world = world();
    let key = world.runner_key.public_key();
    let answer = world.ask("run-42", &world.report(MEASUREMENT, &key), &key).unwrap();
    let info = release_info("alpha", "run-42", "db-password");
    assert_eq!(unwrap_with(world.runner_key.private_key(), &info, &answer).unwrap().expose(), b"hunter2");
    let eavesdropper = OneOffKeyPair::generate();
    assert!(unwrap_with(eavesdropper.private_key(), &info, &answer).is_err());
}

#[test]
fn without_attestation_is_refused() {
    let world = world();
    let key = world.runner_key.public_key();
    assert_eq!(world.ask("run-42", b"", &key), Err(AttestError::MissingEvidence));
}

#[test]
fn wrong_measurement_is_refused() {
    let world = world();
    let key = world.runner_key.public_key();
    let result = world.ask("run-42", &world.report("5eed0000ab", &key), &key);
    assert!(
        matches!(result, Err(AttestError::MeasurementNotAllowed { ref measurement, .. }) if measurement == "5eed0000ab")
    );
}

#[test]
fn mismatched_report_data_is_refused() {
    // The report binds one key, the request presents another (e.g. a replayed report).
    let world = world();
    let attacker = OneOffKeyPair::generate();
    let evidence = world.report(MEASUREMENT, &world.runner_key.public_key());
    assert_eq!(world.ask("run-42", &evidence, &attacker.public_key()), Err(AttestError::ReportDataMismatch));
}

#[test]
fn another_run_is_refused() {
    let world = world();
    let key = world.runner_key.public_key();
    let result = world.ask("run-43", &world.report(MEASUREMENT, &key), &key);
    assert_eq!(result, Err(AttestError::WrongRun { granted_run: "run-42".into(), asked_run: "run-43".into() }));
}

#[test]
fn answer_for_one_run_does_not_open_as_another() {
    let world = world();
    let key = world.runner_key.public_key();
    let answer = world.ask("run-42", &world.report(MEASUREMENT, &key), &key).unwrap();
    let other_info = release_info("alpha", "run-43", "db-password");
    assert!(unwrap_with(world.runner_key.private_key(), &other_info, &answer).is_err());
}

#[test]
fn secret_sealed_under_another_name_is_refused() {
    let mut world = world();
    world.grant.secret_name = "api-token".into();
    let key = world.runner_key.public_key();
    let result = world.ask("run-42", &world.report(MEASUREMENT, &key), &key);
    assert_eq!(result, Err(AttestError::SealedSecretRejected { key_id: "k1".into() }));
}

#[test]
fn errors_never_carry_the_secret() {
    let world = world();
    let key = world.runner_key.public_key();
    for result in [
        world.ask("run-42", b"", &key),
        world.ask("run-43", &world.report(MEASUREMENT, &key), &key),
        world.ask("run-42", &world.report("ff", &key), &key),
    ] {
        let error = result.unwrap_err();
        assert!(!error.to_string().contains("hunter2") && !format!("{error:?}").contains("hunter2"));
    }
}
