//! What each step of releasing a secret costs: median and best microseconds per call
//! of SEV-SNP verification (genuine Milan report and chain: three RSA-4096 PSS checks and
//! one ECDSA P-384; and the test chain with and without its CRL, for what revocation
//! costs: one more RSA-PSS check), simulated-report verification, seal/open, HPKE wrap/unwrap, a whole
//! simulated release, and minting a token. Wall time, rounds interleaved; nothing asserts
//! on a duration. `cargo bench -p consort-attest --bench attest`;
//! `CONSORT_BENCH_CALLS` (200 per round, 9 rounds) sizes it.

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consort_attest::simulated::SimulatedReport;
use consort_attest::{
    AttestationVerifier, Grant, Issuer, IssuerKey, OneOffKeyPair, Policy, ReleaseRequest, SealingKey, SimulatedTee,
    SimulatedVerifier, SnpEvidence, SnpVerifier, StaticKeyProvider, open, release, report_data_for, seal,
    secret_binding, unwrap_with, wrap_to,
};

const ROUNDS: usize = 9;
const NOW: i64 = 1_750_000_000;

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).expect("test data is PEM")
}

fn measure(name: &str, calls: usize, mut call: impl FnMut()) {
    let mut per_call_us: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                call();
            }
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    per_call_us.sort_by(f64::total_cmp);
    println!("| {name} | {:.1} | {:.1} |", per_call_us[ROUNDS / 2], per_call_us[0]);
}

fn main() {
    let calls: usize = std::env::var("CONSORT_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);

    let snp_evidence = SnpEvidence {
        report: hex::decode(include_str!("../tests/data/report_milan.hex").trim()).expect("hex"),
        vcek: include_bytes!("../tests/data/vcek_milan.der").to_vec(),
        ask: pem_to_der(include_str!("../tests/data/milan_ask.pem")),
        ark: pem_to_der(include_str!("../tests/data/milan_ark.pem")),
        crl: Vec::new(),
    }
    .to_bytes();
    let snp = SnpVerifier::new();
    // The test chain (tests/data/test_chain: RSA-3072, not AMD's) with and without its CRL.
    let test_evidence = SnpEvidence {
        report: hex::decode(include_str!("../tests/data/test_chain/report.hex").trim()).expect("hex"),
        vcek: include_bytes!("../tests/data/test_chain/vcek.der").to_vec(),
        ask: include_bytes!("../tests/data/test_chain/ask.der").to_vec(),
        ark: include_bytes!("../tests/data/test_chain/ark.der").to_vec(),
        crl: Vec::new(),
    }
    .to_bytes();
    let test_ark_pin = {
        use x509_cert::der::{Decode, Encode};
        let ark = x509_cert::Certificate::from_der(include_bytes!("../tests/data/test_chain/ark.der")).expect("der");
        let spki = ark.tbs_certificate.subject_public_key_info.to_der().expect("der");
        ring::digest::digest(&ring::digest::SHA256, &spki).as_ref().try_into().expect("32 bytes")
    };
    let test_snp = SnpVerifier::with_pinned_arks(vec![test_ark_pin]);
    let test_snp_with_crl = SnpVerifier::with_pinned_arks(vec![test_ark_pin])
        .with_crls([&include_bytes!("../tests/data/test_chain/crl_current.der")[..]])
        .expect("crl");

    let (tee, _) = SimulatedTee::generate().expect("key");
    let simulated = SimulatedVerifier::new(&tee.public_key()).expect("key");
    let runner = OneOffKeyPair::generate();
    let measurement = "5eed0000aa";
    let report = tee
        .issue(&SimulatedReport {
            measurement: measurement.into(),
            host_data: "00".into(),
            report_data: report_data_for(&runner.public_key()),
            debuggable: false,
            issued_at: NOW,
        })
        .expect("report");

    let key = SealingKey::new("k1", &[9u8; 32]).expect("key");
    let binding = secret_binding("alpha", "db-password");
    let secret = [7u8; 64];
    let sealed = seal(&key, &binding, &secret).expect("seal");
    let provider = StaticKeyProvider::new(vec![key.clone()]).expect("provider");
    let info = consort_attest::release_info("alpha", "run-42", "db-password");
    let answer = wrap_to(&runner.public_key(), &info, &secret).expect("wrap");
    let grant = Grant {
        clean_room: "alpha".into(),
        secret_name: "db-password".into(),
        run_id: "run-42".into(),
        policy: Policy { measurements: vec![measurement.into()], ..Policy::default() },
    };
    let public_key = runner.public_key();
    let request = ReleaseRequest { run_id: "run-42", evidence: &report, one_off_public_key: &public_key };
    let issuer = Issuer::new("https://consort.example/rooms/alpha", IssuerKey::generate().expect("key")).expect("url");
    let extra = serde_json::Map::new();

    println!("| operation (64-byte secret) | median µs/call | best µs/call |");
    println!("| --- | --- | --- |");
    measure("SEV-SNP verify (report + ARK/ASK/VCEK)", calls.div_ceil(4), || {
        black_box(snp.verify(black_box(&snp_evidence), NOW).expect("genuine"));
    });
    measure("SEV-SNP verify, test chain (RSA-3072)", calls.div_ceil(4), || {
        black_box(test_snp.verify(black_box(&test_evidence), NOW).expect("test chain"));
    });
    measure("SEV-SNP verify, test chain + CRL", calls.div_ceil(4), || {
        black_box(test_snp_with_crl.verify(black_box(&test_evidence), NOW).expect("test chain"));
    });
    measure("simulated verify", calls * 5, || {
        black_box(simulated.verify(black_box(&report), NOW).expect("valid"));
    });
    measure("seal (AES-256-GCM)", calls * 50, || {
        black_box(seal(&key, &binding, black_box(&secret)).expect("seal"));
    });
    measure("open", calls * 50, || {
        black_box(open(&key, &binding, black_box(&sealed)).expect("open"));
    });
    measure("HPKE wrap", calls * 5, || {
        black_box(wrap_to(&public_key, &info, black_box(&secret)).expect("wrap"));
    });
    measure("HPKE unwrap", calls * 5, || {
        black_box(unwrap_with(runner.private_key(), &info, black_box(&answer)).expect("unwrap"));
    });
    measure("release (simulated, all checks)", calls * 2, || {
        black_box(release(&grant, &request, &simulated, &provider, &sealed, NOW).expect("release"));
    });
    measure("mint token (ES256)", calls * 5, || {
        black_box(issuer.mint("run:42/runner", "api://storage", NOW, 300, &extra).expect("mint"));
    });
}
