//! SEV-SNP TCB versions and the facts AMD certifies in a VCEK: the processor
//! generation, the `TCB_VERSION` layouts and the binding of a report's
//! `REPORTED_TCB` to the VCEK's TCB extensions (AMD's "VCEK Certificate and KDS
//! Interface Specification", 57230). Pure: bytes and certificates in, facts out.

use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, OctetStringRef};

use crate::AttestError;

/// VCEK extension: the product name, an IA5String such as `Milan-B0`.
const PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
/// VCEK extensions: the security patch level of each TCB component, a DER INTEGER.
const BOOTLOADER_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const MICROCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
/// Turin and later: the firmware FMC's patch level.
const FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
/// VCEK extension: the chip's hardware id (raw bytes, or a DER OCTET STRING in newer certificates).
const HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// The processor generations whose report layout and chains this verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// EPYC 7003 (family 0x19, models 0x00–0x0F).
    Milan,
    /// EPYC 9004 and its Bergamo/Siena variants (family 0x19, models 0x10–0x1F, 0xA0–0xAF); one ARK-Genoa chain.
    Genoa,
    /// EPYC 9005 (family 0x1A, models 0x00–0x11): another `TCB_VERSION` layout with an FMC component.
    Turin,
}

impl Generation {
    /// The name AMD uses in KDS paths and certificate names.
    pub fn name(self) -> &'static str {
        match self {
            Generation::Milan => "Milan",
            Generation::Genoa => "Genoa",
            Generation::Turin => "Turin",
        }
    }

    /// From a version 3+ report's CPUID family and model; `None` for a processor this verifier does not know.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Generation::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Generation::Genoa),
            (0x1A, 0x00..=0x11) => Some(Generation::Turin),
            _ => None,
        }
    }

    /// From a VCEK's product name (`Milan-B0`, `Genoa-B1`, …) or an ARK/ASK common name's
    /// suffix (`ARK-Milan`, `SEV-Genoa`).
    pub fn from_product(product: &str) -> Option<Self> {
        let family = product.split('-').next().unwrap_or_default();
        match family {
            "Milan" => Some(Generation::Milan),
            // Bergamo and Siena chips are certified under the Genoa chain.
            "Genoa" | "Bergamo" | "Siena" => Some(Generation::Genoa),
            "Turin" => Some(Generation::Turin),
            _ => None,
        }
    }
}

/// A decoded `TCB_VERSION`: the security patch level of each firmware component.
/// As a policy minimum (`min_tcb`), every component defaults to 0 and `fmc` to none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tcb {
    /// The PSP bootloader's SPL.
    pub bootloader: u8,
    /// The PSP operating system's (TEE) SPL.
    pub tee: u8,
    /// The SNP firmware's SPL.
    pub snp: u8,
    /// The microcode's SPL.
    pub microcode: u8,
    /// The FMC's SPL: Turin and later only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

impl Tcb {
    /// Decodes a little-endian `TCB_VERSION` in `generation`'s layout: Milan and Genoa put
    /// bootloader, TEE, SNP and microcode at bytes 0, 1, 6 and 7; Turin puts FMC, bootloader,
    /// TEE and SNP at bytes 0 to 3 and microcode at 7.
    pub fn decode(raw: u64, generation: Generation) -> Self {
        let bytes = raw.to_le_bytes();
        match generation {
            Generation::Milan | Generation::Genoa => {
                Tcb { bootloader: bytes[0], tee: bytes[1], snp: bytes[6], microcode: bytes[7], fmc: None }
            }
            Generation::Turin => {
                Tcb { fmc: Some(bytes[0]), bootloader: bytes[1], tee: bytes[2], snp: bytes[3], microcode: bytes[7] }
            }
        }
    }

    /// The components by name, in the order of the KDS query (`fmcSPL` last here, when present).
    fn components(&self) -> [(&'static str, Option<u8>); 5] {
        [
            ("bootloader", Some(self.bootloader)),
            ("tee", Some(self.tee)),
            ("snp", Some(self.snp)),
            ("microcode", Some(self.microcode)),
            ("fmc", self.fmc),
        ]
    }
}

impl std::fmt::Display for Tcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bootloader={} tee={} snp={} microcode={}", self.bootloader, self.tee, self.snp, self.microcode)?;
        match self.fmc {
            Some(fmc) => write!(f, " fmc={fmc}"),
            None => Ok(()),
        }
    }
}

/// Accepts the report's `REPORTED_TCB` only if it equals, component by component, the TCB
/// AMD certified in the VCEK: a VCEK is derived per TCB, and a mismatch means the chain
/// presented is for another firmware level than the one the report claims.
pub fn check_tcb_binding(reported: &Tcb, certified: &Tcb) -> Result<(), AttestError> {
    for ((component, report), (_, vcek)) in reported.components().into_iter().zip(certified.components()) {
        if report != vcek {
            return Err(AttestError::TcbMismatch { component, report, vcek });
        }
    }
    Ok(())
}

/// Accepts `tcb` only if every component is at least `minimum`'s (an FMC minimum needs an FMC).
pub fn check_tcb_minimum(tcb: &Tcb, minimum: &Tcb) -> Result<(), AttestError> {
    for ((component, seen), (_, required)) in tcb.components().into_iter().zip(minimum.components()) {
        let Some(required) = required else { continue };
        if seen.is_none_or(|seen| seen < required) {
            return Err(AttestError::PolicyNotMet {
                field: min_tcb_field(component),
                seen: seen.map_or_else(|| "absent (Milan/Genoa TCBs have no FMC)".into(), |seen| seen.to_string()),
                required: format!("at least {required}"),
            });
        }
    }
    Ok(())
}

fn min_tcb_field(component: &str) -> &'static str {
    match component {
        "bootloader" => "min_tcb.bootloader",
        "tee" => "min_tcb.tee",
        "snp" => "min_tcb.snp",
        "microcode" => "min_tcb.microcode",
        _ => "min_tcb.fmc",
    }
}

/// What AMD certifies in a VCEK's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcekFacts {
    /// The product name (`Milan-B0`).
    pub product: String,
    /// The generation the product belongs to.
    pub generation: Generation,
    /// The TCB the VCEK was derived for.
    pub tcb: Tcb,
    /// The chip's hardware id (64 bytes; 8 on Turin).
    pub hw_id: Vec<u8>,
}

impl VcekFacts {
    /// Reads the product name, the TCB extensions and the hardware id; each must be present
    /// (the FMC's only on Turin) and well formed.
    pub fn of(vcek: &Certificate) -> Result<Self, AttestError> {
        let product_der = extension(vcek, PRODUCT_NAME, "product name (1.3.6.1.4.1.3704.1.2)")?;
        let product = Ia5StringRef::from_der(product_der)
            .map_err(|error| untrusted(format!("the VCEK's product name is not an IA5String: {error}")))?
            .to_string();
        let generation = Generation::from_product(&product).ok_or_else(|| {
            untrusted(format!("the VCEK is for product {product:?}, not Milan, Genoa or Turin (unsupported)"))
        })?;
        let fmc = match generation {
            Generation::Turin => Some(spl(vcek, FMC_SPL, "fmcSPL (1.3.6.1.4.1.3704.1.3.9)")?),
            Generation::Milan | Generation::Genoa => None,
        };
        let tcb = Tcb {
            bootloader: spl(vcek, BOOTLOADER_SPL, "blSPL (1.3.6.1.4.1.3704.1.3.1)")?,
            tee: spl(vcek, TEE_SPL, "teeSPL (1.3.6.1.4.1.3704.1.3.2)")?,
            snp: spl(vcek, SNP_SPL, "snpSPL (1.3.6.1.4.1.3704.1.3.3)")?,
            microcode: spl(vcek, MICROCODE_SPL, "ucodeSPL (1.3.6.1.4.1.3704.1.3.8)")?,
            fmc,
        };
        let hw_id_raw = extension(vcek, HW_ID, "hardware id (1.3.6.1.4.1.3704.1.4)")?;
        // Older VCEKs carry the id's bytes directly; newer ones wrap them in an OCTET STRING.
        let hw_id = match hw_id_raw.len() {
            64 | 8 => hw_id_raw.to_vec(),
            _ => OctetStringRef::from_der(hw_id_raw)
                .map_err(|error| {
                    untrusted(format!("the VCEK's hardware id is neither raw bytes nor an OCTET STRING: {error}"))
                })?
                .as_bytes()
                .to_vec(),
        };
        Ok(VcekFacts { product, generation, tcb, hw_id })
    }

    /// Whether the VCEK's hardware id is the report's `CHIP_ID` (Turin ids are 8 bytes, zero-padded in the report).
    pub fn is_chip(&self, chip_id: &[u8; 64]) -> bool {
        match self.hw_id.len() {
            64 => self.hw_id == chip_id[..],
            8 if self.generation == Generation::Turin => {
                chip_id[..8] == self.hw_id[..] && chip_id[8..].iter().all(|&byte| byte == 0)
            }
            _ => false,
        }
    }
}

fn extension<'c>(vcek: &'c Certificate, oid: ObjectIdentifier, name: &str) -> Result<&'c [u8], AttestError> {
    vcek.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == oid)
        .map(|extension| extension.extn_value.as_bytes())
        .ok_or_else(|| untrusted(format!("the VCEK has no {name} extension")))
}

fn spl(vcek: &Certificate, oid: ObjectIdentifier, name: &str) -> Result<u8, AttestError> {
    let der = extension(vcek, oid, name)?;
    u8::from_der(der).map_err(|error| untrusted(format!("the VCEK's {name} is not an INTEGER from 0 to 255: {error}")))
}

fn untrusted(problem: String) -> AttestError {
    AttestError::UntrustedChain { problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MILAN: Tcb = Tcb { bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: None };

    #[test]
    fn layouts_differ_between_milan_and_turin() {
        let raw = u64::from_le_bytes([3, 0, 0, 0, 0, 0, 8, 0x73]);
        assert_eq!(Tcb::decode(raw, Generation::Milan), MILAN);
        assert_eq!(Tcb::decode(raw, Generation::Genoa), MILAN);
        let turin = u64::from_le_bytes([1, 4, 2, 9, 0, 0, 0, 0x44]);
        assert_eq!(
            Tcb::decode(turin, Generation::Turin),
            Tcb { fmc: Some(1), bootloader: 4, tee: 2, snp: 9, microcode: 0x44 }
        );
    }

    #[test]
    fn generations_from_cpuid_and_product_names() {
        assert_eq!(Generation::from_cpuid(0x19, 0x01), Some(Generation::Milan));
        assert_eq!(Generation::from_cpuid(0x19, 0x11), Some(Generation::Genoa));
        assert_eq!(Generation::from_cpuid(0x19, 0xA0), Some(Generation::Genoa));
        assert_eq!(Generation::from_cpuid(0x1A, 0x02), Some(Generation::Turin));
        assert_eq!(Generation::from_cpuid(0x1A, 0x50), None, "Venice is not supported yet");
        assert_eq!(Generation::from_cpuid(0x17, 0x31), None, "Rome has no SNP");
        assert_eq!(Generation::from_product("Milan-B0"), Some(Generation::Milan));
        assert_eq!(Generation::from_product("ARK-Milan".trim_start_matches("ARK-")), Some(Generation::Milan));
        assert_eq!(Generation::from_product("Siena-A0"), Some(Generation::Genoa));
        assert_eq!(Generation::from_product("Turin-C1"), Some(Generation::Turin));
        assert_eq!(Generation::from_product("Rome-B0"), None);
    }

    #[test]
    fn binding_names_the_first_differing_component() {
        assert_eq!(check_tcb_binding(&MILAN, &MILAN), Ok(()));
        let older_snp = Tcb { snp: 7, ..MILAN };
        assert_eq!(
            check_tcb_binding(&MILAN, &older_snp),
            Err(AttestError::TcbMismatch { component: "snp", report: Some(8), vcek: Some(7) })
        );
        let newer_microcode = Tcb { microcode: 0x74, ..MILAN };
        assert_eq!(
            check_tcb_binding(&newer_microcode, &MILAN),
            Err(AttestError::TcbMismatch { component: "microcode", report: Some(0x74), vcek: Some(0x73) })
        );
        let with_fmc = Tcb { fmc: Some(1), ..MILAN };
        assert!(matches!(check_tcb_binding(&with_fmc, &MILAN), Err(AttestError::TcbMismatch { component: "fmc", .. })));
        let message = check_tcb_binding(&MILAN, &older_snp).unwrap_err().to_string();
        assert!(message.contains("snp") && message.contains('8') && message.contains('7'), "{message}");
    }

    #[test]
    fn minimum_is_per_component() {
        assert_eq!(check_tcb_minimum(&MILAN, &Tcb::default()), Ok(()));
        assert_eq!(check_tcb_minimum(&MILAN, &MILAN), Ok(()));
        let error = check_tcb_minimum(&MILAN, &Tcb { snp: 9, ..Tcb::default() }).unwrap_err();
        assert_eq!(
            error,
            AttestError::PolicyNotMet { field: "min_tcb.snp", seen: "8".into(), required: "at least 9".into() }
        );
        assert!(error.to_string().contains("min_tcb.snp is 8"), "{error}");
        // A high bootloader does not make up for a low microcode.
        let error = check_tcb_minimum(&MILAN, &Tcb { microcode: 0x74, ..Tcb::default() }).unwrap_err();
        assert!(matches!(error, AttestError::PolicyNotMet { field: "min_tcb.microcode", .. }));
        let error = check_tcb_minimum(&MILAN, &Tcb { fmc: Some(0), ..Tcb::default() }).unwrap_err();
        assert!(matches!(error, AttestError::PolicyNotMet { field: "min_tcb.fmc", .. }), "{error}");
        let turin = Tcb { fmc: Some(2), ..MILAN };
        assert_eq!(check_tcb_minimum(&turin, &Tcb { fmc: Some(2), ..Tcb::default() }), Ok(()));
    }
}
