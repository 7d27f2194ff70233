//! AMD's certificate revocation lists for SEV-SNP: the KDS serves one per product
//! (`vcek/v1/{Milan,Genoa,Turin}/crl`), a DER X.509 CRL signed by the product's ARK with
//! RSASSA-PSS SHA-384. A careful verifier checks that signature against the chain's
//! (pinned) ARK, that the list is current, and that neither the ASK nor the VCEK is on it.
//! Pure: the clock is an argument.

use ring::signature::{RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use crate::AttestError;

const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// A parsed CRL, its signature not yet checked (that needs the ARK of the chain it is used with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdCrl {
    list: CertificateList,
    /// The signed bytes (the DER `TBSCertList`).
    tbs: Vec<u8>,
}

impl AmdCrl {
    /// Parses a DER CRL. Checks the form only (RSASSA-PSS, a `nextUpdate`); the signature and
    /// the dates are checked against a chain and a time by [`AmdCrl::check`].
    pub fn parse(der: &[u8]) -> Result<Self, AttestError> {
        let list = CertificateList::from_der(der)
            .map_err(|error| unusable(format!("not a DER X.509 CRL: {error} (fetch it from AMD KDS as DER)")))?;
        if list.signature_algorithm.oid != RSASSA_PSS {
            return Err(unusable(format!(
                "signed with {}, not RSASSA-PSS as AMD signs its CRLs",
                list.signature_algorithm.oid
            )));
        }
        if list.tbs_cert_list.next_update.is_none() {
            return Err(unusable("it has no nextUpdate, so its freshness cannot be judged".into()));
        }
        let tbs = list
            .tbs_cert_list
            .to_der()
            .map_err(|error| unusable(format!("its contents cannot be re-encoded as DER: {error}")))?;
        Ok(AmdCrl { list, tbs })
    }

    /// Whether this CRL was issued by `ark` (by name; [`AmdCrl::check`] verifies the signature).
    pub fn issued_by(&self, ark: &Certificate) -> bool {
        self.list.tbs_cert_list.issuer == ark.tbs_certificate.subject
    }

    /// `thisUpdate` and `nextUpdate`, Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        let tbs = &self.list.tbs_cert_list;
        let seconds =
            |time: x509_cert::time::Time| i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        (seconds(tbs.this_update), tbs.next_update.map_or(i64::MIN, seconds))
    }

    /// Accepts the chain only if this CRL is signed by `ark` (RSASSA-PSS SHA-384), current at
    /// `now_s` (`thisUpdate` ≤ now ≤ `nextUpdate`), and lists neither the ASK's nor the VCEK's serial.
    pub fn check(
        &self,
        ark: &Certificate,
        ask: &Certificate,
        vcek: &Certificate,
        now_s: i64,
    ) -> Result<(), AttestError> {
        if !self.issued_by(ark) {
            return Err(unusable("it is not issued by the chain's ARK (another product's CRL?)".into()));
        }
        let signature =
            self.list.signature.as_bytes().ok_or_else(|| unusable("its signature has unused bits".into()))?;
        let ark_key = ark.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, ark_key)
            .verify(&self.tbs, signature)
            .map_err(|_| AttestError::BadSignature { what: "AMD CRL" })?;
        let (this_update, next_update) = self.validity();
        if now_s < this_update {
            return Err(unusable(format!(
                "it is issued at {this_update} (Unix seconds), after now ({now_s}): check the clock"
            )));
        }
        if now_s > next_update {
            return Err(AttestError::CrlStale { next_update, now_s });
        }
        for (what, certificate) in [("ASK", ask), ("VCEK", vcek)] {
            let serial = &certificate.tbs_certificate.serial_number;
            if self.revoked_serials().any(|revoked| revoked == serial.as_bytes()) {
                return Err(AttestError::Revoked { what, serial: hex::encode(serial.as_bytes()) });
            }
        }
        Ok(())
    }

    /// The serial numbers listed (DER INTEGER contents).
    pub fn revoked_serials(&self) -> impl Iterator<Item = &[u8]> {
        self.list.tbs_cert_list.revoked_certificates.iter().flatten().map(|revoked| revoked.serial_number.as_bytes())
    }
}

fn unusable(problem: String) -> AttestError {
    AttestError::CrlUnusable { problem }
}
