//! AMD SEV-SNP: the 1184-byte `ATTESTATION_REPORT` (SEV-SNP ABI specification,
//! "ATTESTATION_REPORT Structure") and its certificate chain ARK → ASK → VCEK.
//!
//! Checks, in order (see docs/attestation.md):
//! 1. the ARK's public key is one of the pinned AMD root keys ([`MILAN_ARK_SPKI_SHA256`],
//!    [`GENOA_ARK_SPKI_SHA256`]) and the ARK is self-signed (RSA-PSS SHA-384);
//! 2. the ASK is signed by the ARK and the VCEK by the ASK (RSA-PSS SHA-384), each
//!    issued by its parent's subject and valid at `now_s`;
//! 3. the report is version 2 or later, signed with ECDSA P-384 SHA-384 by a VCEK
//!    (not a VLEK), over its first 0x2A0 bytes, with the VCEK's key;
//! 4. the VCEK's product name is of the chain's generation (ARK-Milan, ARK-Genoa, ARK-Turin), and
//!    the report's CPUID (version 3 and later) of the same generation, which fixes the
//!    `TCB_VERSION` layout;
//! 5. the report's `REPORTED_TCB` equals the TCB the VCEK's extensions certify ([`snp_tcb`]);
//! 6. the VCEK's hardware id extension equals the report's `chip_id` (unless masked);
//! 7. when a CRL is configured or presented, it is the ARK's, current, and lists neither
//!    the ASK nor the VCEK ([`snp_crl`]).
//!
//! [`snp_tcb`]: crate::snp_tcb
//! [`snp_crl`]: crate::snp_crl
//!
//! Implemented with `x509-cert` (parsing) and `ring` (signatures) rather than the
//! `sev` crate, whose pure-Rust mode pulls a second RSA/ECDSA stack; ring is the
//! workspace's one signature library.

use ring::digest::{SHA256, digest};
use ring::signature::{ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use crate::AttestError;
use crate::evidence::{AttestationVerifier, Claims, SnpClaims, platform};
use crate::snp_crl::AmdCrl;
use crate::snp_tcb::{Generation, Tcb, VcekFacts, check_tcb_binding};

/// Length of the `ATTESTATION_REPORT` structure.
pub const REPORT_LEN: usize = 1184;
/// The report bytes the signature covers: everything before the signature.
const SIGNED_LEN: usize = 0x2A0;
/// SHA-256 of the Milan ARK's DER SubjectPublicKeyInfo (AMD KDS `vcek/v1/Milan/cert_chain`,
/// CN=ARK-Milan, RSA 4096, valid 2020-10-22 to 2045-10-22).
pub const MILAN_ARK_SPKI_SHA256: &str = "9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9";
/// SHA-256 of the Genoa ARK's DER SubjectPublicKeyInfo (AMD KDS `vcek/v1/Genoa/cert_chain`, CN=ARK-Genoa).
pub const GENOA_ARK_SPKI_SHA256: &str = "429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831";
/// Largest accepted evidence envelope (bytes): a report and three certificates fit easily.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;

const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const REPORT: &str = "SEV-SNP report";
const EVIDENCE: &str = "SEV-SNP evidence";

/// The fields of an `ATTESTATION_REPORT` that verification and policy use.
#[derive(Clone, PartialEq, Eq)]
pub struct SnpReport {
    /// Report format version (2 for Milan/Genoa firmware of 2023, 3 and later add CPUID fields).
    pub version: u32,
    /// The guest's security version number (from its ID block).
    pub guest_svn: u32,
    /// Guest policy; bit 16 SMT allowed, bit 18 MIGRATE_MA, bit 19 DEBUG.
    pub policy: u64,
    /// VMPL the report was requested from.
    pub vmpl: u32,
    /// Signature algorithm (1 = ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// Platform info; bit 0 SMT_EN (SMT is enabled on the host).
    pub platform_info: u64,
    /// Flags: bit 1 MASK_CHIP_KEY, bits 2..=4 SIGNING_KEY (0 = VCEK, 1 = VLEK).
    pub flags: u32,
    /// The 64 bytes the guest supplied.
    pub report_data: [u8; 64],
    /// The launch measurement.
    pub measurement: [u8; 48],
    /// Data the host supplied at launch (e.g. the security policy digest).
    pub host_data: [u8; 32],
    /// The TCB the report is signed at (raw `TCB_VERSION`; its layout depends on the generation).
    pub reported_tcb: u64,
    /// CPUID family, model and stepping (report version 3 and later).
    pub cpuid: Option<[u8; 3]>,
    /// The chip's id (zero when masked).
    pub chip_id: [u8; 64],
    /// The signed bytes (0x000..0x2A0).
    signed: Vec<u8>,
    /// The signature as ring wants it: r ‖ s, 48 bytes each, big-endian.
    signature: [u8; 96],
}

impl std::fmt::Debug for SnpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpReport")
            .field("version", &self.version)
            .field("policy", &format_args!("{:#x}", self.policy))
            .field("guest_svn", &self.guest_svn)
            .field("vmpl", &self.vmpl)
            .field("reported_tcb", &format_args!("{:#018x}", self.reported_tcb))
            .field("measurement", &hex::encode(self.measurement))
            .field("host_data", &hex::encode(self.host_data))
            .field("report_data", &hex::encode(self.report_data))
            .finish_non_exhaustive()
    }
}

impl SnpReport {
    /// Parses the 1184-byte structure (little-endian fields). Checks the length, the version
    /// (2 or later) and that the signature's r and s fit P-384; never the signature itself.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        if bytes.len() != REPORT_LEN {
            return Err(report_malformed(format!("{} bytes, not {REPORT_LEN}", bytes.len())));
        }
        let version = u32_at(bytes, 0x00);
        if version < 2 {
            return Err(report_malformed(format!("version {version} is not supported (2 or later)")));
        }
        let mut signature = [0u8; 96];
        // r and s are 72-byte little-endian fields; P-384 values use the low 48 bytes.
        for (component, offset) in [(0, SIGNED_LEN), (1, SIGNED_LEN + 72)] {
            let field = &bytes[offset..offset + 72];
            if field[48..].iter().any(|&byte| byte != 0) {
                return Err(report_malformed("signature component exceeds 48 bytes".into()));
            }
            let out = &mut signature[component * 48..component * 48 + 48];
            for (index, byte) in field[..48].iter().rev().enumerate() {
                out[index] = *byte;
            }
        }
        Ok(Self {
            version,
            guest_svn: u32_at(bytes, 0x04),
            policy: u64_at(bytes, 0x08),
            vmpl: u32_at(bytes, 0x30),
            signature_algo: u32_at(bytes, 0x34),
            platform_info: u64_at(bytes, 0x40),
            flags: u32_at(bytes, 0x48),
            report_data: array_at(bytes, 0x50),
            measurement: array_at(bytes, 0x90),
            host_data: array_at(bytes, 0xC0),
            reported_tcb: u64_at(bytes, 0x180),
            cpuid: (version >= 3).then(|| array_at(bytes, 0x188)),
            chip_id: array_at(bytes, 0x1A0),
            signed: bytes[..SIGNED_LEN].to_vec(),
            signature,
        })
    }

    /// Whether guest policy bit 19 (DEBUG) is set: the host may read the guest's memory.
    pub fn debuggable(&self) -> bool {
        self.policy & (1 << 19) != 0
    }

    /// Whether guest policy bit 18 (MIGRATE_MA) is set: a migration agent may be associated.
    pub fn migration_agent_allowed(&self) -> bool {
        self.policy & (1 << 18) != 0
    }

    /// Whether platform info bit 0 (SMT_EN) is set: simultaneous multithreading is on.
    pub fn smt_enabled(&self) -> bool {
        self.platform_info & 1 != 0
    }

    /// The processor generation, which fixes the `TCB_VERSION` layout: from CPUID (version 3
    /// and later) or, for version 2 (no CPUID), the VCEK's product; the two must agree.
    fn generation(&self, vcek: &VcekFacts) -> Result<Generation, AttestError> {
        let Some([family, model, _]) = self.cpuid else {
            if vcek.generation == Generation::Turin {
                return Err(report_malformed(
                    "a version 2 report with a Turin VCEK: Turin firmware writes version 3 or later".into(),
                ));
            }
            return Ok(vcek.generation);
        };
        let generation = Generation::from_cpuid(family, model).ok_or_else(|| {
            report_malformed(format!(
                "CPUID family {family:#04x} model {model:#04x} is not a supported SEV-SNP processor (Milan, Genoa, Turin)"
            ))
        })?;
        if generation != vcek.generation {
            return Err(untrusted(format!(
                "the report is from a {} processor (CPUID) but the VCEK is for {}",
                generation.name(),
                vcek.product
            )));
        }
        Ok(generation)
    }

    fn chip_key_masked(&self) -> bool {
        self.flags & 0b10 != 0
    }

    fn signing_key(&self) -> u32 {
        (self.flags >> 2) & 0b111
    }

    /// What the report attests, once verified.
    fn claims(&self, generation: Generation, tcb: Tcb) -> Claims {
        Claims {
            platform: platform::SEV_SNP,
            measurement: hex::encode(self.measurement),
            host_data: hex::encode(self.host_data),
            report_data: self.report_data,
            debuggable: self.debuggable(),
            snp: Some(SnpClaims {
                generation: generation.name(),
                reported_tcb: tcb,
                guest_svn: self.guest_svn,
                vmpl: self.vmpl,
                smt_enabled: self.smt_enabled(),
                migration_agent_allowed: self.migration_agent_allowed(),
            }),
        }
    }
}

/// The evidence a SEV-SNP runner presents: its report and the certificate chain
/// (on Azure from the host's THIM endpoint; elsewhere from AMD KDS). Serialised as
/// JSON `{"report", "vcek", "ask", "ark"}`, each standard base64 (report raw, certificates DER),
/// and optionally `"crl"`: AMD's CRL for the product (DER, base64), checked like a configured one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpEvidence {
    /// The 1184-byte report.
    #[serde(with = "crate::b64")]
    pub report: Vec<u8>,
    /// The chip's VCEK certificate (DER).
    #[serde(with = "crate::b64")]
    pub vcek: Vec<u8>,
    /// The AMD SEV Key certificate of the processor family (DER).
    #[serde(with = "crate::b64")]
    pub ask: Vec<u8>,
    /// The AMD Root Key certificate of the processor family (DER); must be a pinned one.
    #[serde(with = "crate::b64")]
    pub ark: Vec<u8>,
    /// AMD's CRL for the product (DER), if the runner presents one; empty: none.
    #[serde(with = "crate::b64", default, skip_serializing_if = "Vec::is_empty")]
    pub crl: Vec<u8>,
}

impl std::fmt::Debug for SnpEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpEvidence")
            .field("report_len", &self.report.len())
            .field("vcek_len", &self.vcek.len())
            .field("ask_len", &self.ask.len())
            .field("ark_len", &self.ark.len())
            .field("crl_len", &self.crl.len())
            .finish()
    }
}

impl SnpEvidence {
    /// The JSON bytes [`SnpVerifier`] takes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising byte strings and base64 text cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Verifies SEV-SNP evidence against pinned AMD root keys and, when configured, AMD's CRLs.
#[derive(Debug, Clone)]
pub struct SnpVerifier {
    pinned_ark_spki_sha256: Vec<[u8; 32]>,
    /// Once any is configured, every chain needs its ARK's CRL here (fail closed).
    crls: Vec<AmdCrl>,
}

impl Default for SnpVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl SnpVerifier {
    /// A verifier trusting AMD's Milan and Genoa root keys.
    pub fn new() -> Self {
        let pinned = [MILAN_ARK_SPKI_SHA256, GENOA_ARK_SPKI_SHA256]
            .iter()
            .filter_map(|pin| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(pin, &mut bytes).ok().map(|()| bytes)
            })
            .collect();
        Self { pinned_ark_spki_sha256: pinned, crls: Vec::new() }
    }

    /// A verifier trusting only the roots whose DER SubjectPublicKeyInfo has these SHA-256 digests.
    pub fn with_pinned_arks(pinned_ark_spki_sha256: Vec<[u8; 32]>) -> Self {
        Self { pinned_ark_spki_sha256, crls: Vec::new() }
    }

    /// Also checks revocation with these CRLs (DER, from AMD KDS `vcek/v1/<product>/crl`; one per
    /// product). From then on a chain whose ARK has no CRL here is refused, as is one whose
    /// CRL is stale at verification time. Each CRL's signature is checked against the chain's ARK.
    pub fn with_crls<'a>(mut self, crls_der: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, AttestError> {
        for der in crls_der {
            self.crls.push(AmdCrl::parse(der)?);
        }
        Ok(self)
    }

    /// Verifies a report (raw 1184 bytes) with its chain (DER certificates) at `now_s`.
    pub fn verify_parts(
        &self,
        report: &[u8],
        vcek_der: &[u8],
        ask_der: &[u8],
        ark_der: &[u8],
        now_s: i64,
    ) -> Result<Claims, AttestError> {
        self.verify_parts_with_crl(report, vcek_der, ask_der, ark_der, None, now_s)
    }

    /// [`SnpVerifier::verify_parts`], also checking a CRL the runner presented (DER).
    pub fn verify_parts_with_crl(
        &self,
        report: &[u8],
        vcek_der: &[u8],
        ask_der: &[u8],
        ark_der: &[u8],
        presented_crl: Option<&[u8]>,
        now_s: i64,
    ) -> Result<Claims, AttestError> {
        let report = SnpReport::parse(report)?;
        let ark = parse_certificate("ARK", ark_der)?;
        let ask = parse_certificate("ASK", ask_der)?;
        let vcek = parse_certificate("VCEK", vcek_der)?;

        let ark_spki = encode("ARK", &ark.tbs_certificate.subject_public_key_info)?;
        let ark_pin: [u8; 32] = digest(&SHA256, &ark_spki).as_ref().try_into().unwrap_or([0u8; 32]);
        if !self.pinned_ark_spki_sha256.contains(&ark_pin) {
            return Err(untrusted(format!(
                "the ARK's public key (SPKI SHA-256 {}) is not a pinned AMD root key",
                hex::encode(ark_pin)
            )));
        }
        check_signed_by("ARK", &ark, "ARK", &ark, now_s)?;
        check_signed_by("ASK", &ask, "ARK", &ark, now_s)?;
        check_signed_by("VCEK", &vcek, "ASK", &ask, now_s)?;
        self.check_revocation(&ark, &ask, &vcek, presented_crl, now_s)?;

        let facts = VcekFacts::of(&vcek)?;
        let chain_generation = chain_generation(&ark)?;
        if facts.generation != chain_generation {
            return Err(untrusted(format!(
                "the VCEK is for product {} but the chain's root is ARK-{}",
                facts.product,
                chain_generation.name()
            )));
        }
        let generation = report.generation(&facts)?;

        if report.signature_algo != 1 {
            return Err(report_malformed(format!(
                "signature algorithm {} is not ECDSA P-384 with SHA-384 (1)",
                report.signature_algo
            )));
        }
        if report.signing_key() != 0 {
            return Err(report_malformed(
                "signed by a VLEK or another key, only VCEK-signed reports are supported".into(),
            ));
        }
        let vcek_spki = &vcek.tbs_certificate.subject_public_key_info;
        let curve = vcek_spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
        if vcek_spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
            return Err(untrusted("the VCEK's key is not an ECDSA P-384 key".into()));
        }
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, vcek_spki.subject_public_key.raw_bytes())
            .verify(&report.signed, &report.signature)
            .map_err(|_| AttestError::BadSignature { what: REPORT })?;
        // Checked after the signature: only then are the report's fields the chip's own.
        let reported_tcb = Tcb::decode(report.reported_tcb, generation);
        check_tcb_binding(&reported_tcb, &facts.tcb)?;
        if !report.chip_key_masked() && !facts.is_chip(&report.chip_id) {
            return Err(untrusted("the VCEK's hardware id is not the report's chip_id: it is another chip's".into()));
        }
        Ok(report.claims(generation, reported_tcb))
    }

    /// Checks the configured CRL of the chain's ARK (required once any is configured) and a
    /// CRL the runner presented (if any).
    fn check_revocation(
        &self,
        ark: &Certificate,
        ask: &Certificate,
        vcek: &Certificate,
        presented_crl: Option<&[u8]>,
        now_s: i64,
    ) -> Result<(), AttestError> {
        if !self.crls.is_empty() {
            let crl = self.crls.iter().find(|crl| crl.issued_by(ark)).ok_or_else(|| AttestError::CrlUnusable {
                problem: format!(
                    "none of the {} configured CRLs is issued by the chain's ARK ({}); configure AMD's CRL for that product",
                    self.crls.len(),
                    ark.tbs_certificate.subject
                ),
            })?;
            crl.check(ark, ask, vcek, now_s)?;
        }
        if let Some(der) = presented_crl.filter(|der| !der.is_empty()) {
            AmdCrl::parse(der)?.check(ark, ask, vcek, now_s)?;
        }
        Ok(())
    }
}

impl AttestationVerifier for SnpVerifier {
    fn verify(&self, evidence: &[u8], now_s: i64) -> Result<Claims, AttestError> {
        if evidence.is_empty() {
            return Err(AttestError::MissingEvidence);
        }
        if evidence.len() > MAX_EVIDENCE_BYTES {
            return Err(AttestError::MalformedEvidence {
                format: EVIDENCE,
                problem: format!("{} bytes, more than the {MAX_EVIDENCE_BYTES} allowed", evidence.len()),
            });
        }
        let evidence: SnpEvidence =
            serde_json::from_slice(evidence).map_err(|error| AttestError::MalformedEvidence {
                format: EVIDENCE,
                problem: format!("not the JSON object {{report, vcek, ask, ark}} in base64: {error}"),
            })?;
        self.verify_parts_with_crl(
            &evidence.report,
            &evidence.vcek,
            &evidence.ask,
            &evidence.ark,
            Some(&evidence.crl),
            now_s,
        )
    }
}

/// Checks `child`'s RSA-PSS SHA-384 signature by `parent`, the issuer name and the validity at `now_s`.
fn check_signed_by(
    child_name: &str,
    child: &Certificate,
    parent_name: &str,
    parent: &Certificate,
    now_s: i64,
) -> Result<(), AttestError> {
    if child.tbs_certificate.issuer != parent.tbs_certificate.subject {
        return Err(untrusted(format!("the {child_name} is not issued by the {parent_name}'s subject")));
    }
    if child.signature_algorithm.oid != RSASSA_PSS {
        return Err(untrusted(format!("the {child_name} is not signed with RSA-PSS")));
    }
    let validity = &child.tbs_certificate.validity;
    let not_before = i64::try_from(validity.not_before.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    let not_after = i64::try_from(validity.not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    if now_s < not_before || now_s > not_after {
        return Err(untrusted(format!(
            "the {child_name} is valid from {not_before} to {not_after} (Unix seconds), not at {now_s}"
        )));
    }
    let tbs = encode(child_name, &child.tbs_certificate)?;
    let signature =
        child.signature.as_bytes().ok_or_else(|| untrusted(format!("the {child_name}'s signature has unused bits")))?;
    // ring takes the RSAPublicKey (PKCS#1) inside the SPKI's bit string, and checks PSS with a 48-byte salt.
    let parent_key = parent.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, parent_key)
        .verify(&tbs, signature)
        .map_err(|_| AttestError::BadSignature { what: certificate_what(child_name) })
}

/// The generation of a chain, from its ARK's common name (`ARK-Milan`); the ARK is pinned by key.
fn chain_generation(ark: &Certificate) -> Result<Generation, AttestError> {
    let subject = ark.tbs_certificate.subject.to_string();
    subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN=ARK-"))
        .and_then(Generation::from_product)
        .ok_or_else(|| {
            untrusted(format!("the ARK's subject {subject:?} names no known product (ARK-Milan, ARK-Genoa, ARK-Turin)"))
        })
}

fn certificate_what(name: &str) -> &'static str {
    match name {
        "ARK" => "ARK certificate",
        "ASK" => "ASK certificate",
        _ => "VCEK certificate",
    }
}

fn parse_certificate(name: &str, der: &[u8]) -> Result<Certificate, AttestError> {
    Certificate::from_der(der).map_err(|error| AttestError::MalformedEvidence {
        format: EVIDENCE,
        problem: format!("the {name} is not a DER X.509 certificate: {error}"),
    })
}

fn encode<T: Encode>(name: &str, value: &T) -> Result<Vec<u8>, AttestError> {
    value.to_der().map_err(|error| untrusted(format!("the {name} cannot be re-encoded as DER: {error}")))
}

fn untrusted(problem: String) -> AttestError {
    AttestError::UntrustedChain { problem }
}

fn report_malformed(problem: String) -> AttestError {
    AttestError::MalformedEvidence { format: REPORT, problem }
}

// The callers pass offsets inside the length-checked report, so the slices cannot fail.
fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(slice) = bytes.get(offset..offset + N) {
        out.copy_from_slice(slice);
    }
    out
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(array_at(bytes, offset))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, offset))
}
