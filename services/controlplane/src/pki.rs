//! The control plane's certificate authority (rcgen). Created on first start under the data
//! directory (key readable by the owner only); signs the hub's server certificate, the control
//! plane's client certificate, and runner certificates whose identity is
//! `spiffe://cloudops.local/runner/<id>/gen/<n>` — never a name the runner asked for.

use std::path::{Path, PathBuf};

use cloudops_bus::{callout, natsd::write_private};
use cloudops_gateway::{CertIssuer, IssuedCert};
use cloudops_schemas::RunnerId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

pub struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("certificate authority: {e}")
}

impl Pki {
    /// Loads an existing CA from `dir` (a replica's `--ca-dir`): never creates one, since a
    /// new CA would sign certificates no one else trusts.
    pub fn load_existing(dir: &Path) -> Result<Self, String> {
        for f in ["ca.pem", "ca.key"] {
            if !dir.join(f).is_file() {
                return Err(format!(
                    "--ca-dir {}: no {f} there (`cloudops hub init` makes the CA; a hub started by `cloudops serve` or `cloudops hub` keeps it in its data dir as pki/)",
                    dir.display()
                ));
            }
        }
        Self::load_or_create(dir)
    }

    /// Loads the CA from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
        if cert_path.exists() && key_path.exists() {
            let ca_pem = std::fs::read_to_string(&cert_path).map_err(err)?;
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path).map_err(err)?).map_err(err)?;
            let issuer = Issuer::from_ca_cert_pem(&ca_pem, key).map_err(err)?;
            return Ok(Self { ca_pem, issuer });
        }
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Cloud Ops");
        dn.push(DnType::CommonName, "Cloud Ops control plane CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(random_serial());
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        write_private(&key_path, key.serialize_pem().as_bytes()).map_err(err)?;
        std::fs::write(&cert_path, cert.pem()).map_err(err)?;
        Ok(Self { ca_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn leaf(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        ekus: Vec<ExtendedKeyUsagePurpose>,
        days: i64,
    ) -> Result<Leaf, String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Cloud Ops");
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(days);
        params.serial_number = Some(random_serial());
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() })
    }

    /// The hub's server certificate (also usable as a client certificate between hub nodes).
    pub fn issue_server(&self, hosts: &[String]) -> Result<Leaf, String> {
        let mut sans = Vec::new();
        for h in hosts {
            sans.push(match h.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(h.as_str().try_into().map_err(err)?),
            });
        }
        self.leaf(
            "cloudops-hub",
            sans,
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
            365,
        )
    }

    /// A client certificate for one of the control plane's own connections.
    pub fn issue_control_plane_client(&self) -> Result<Leaf, String> {
        let uri = SanType::URI("spiffe://cloudops.local/control-plane".try_into().map_err(err)?);
        self.leaf("cloudops-control-plane", vec![uri], vec![ExtendedKeyUsagePurpose::ClientAuth], 365)
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive
    SerialNumber::from_slice(&bytes)
}

impl CertIssuer for Pki {
    fn issue_runner(&self, runner: &RunnerId, generation: u32) -> Result<IssuedCert, String> {
        let uri = SanType::URI(callout::runner_uri(runner, generation).as_str().try_into().map_err(err)?);
        let leaf = self.leaf(runner.as_str(), vec![uri], vec![ExtendedKeyUsagePurpose::ClientAuth], 365)?;
        Ok(IssuedCert {
            fingerprint: callout::fingerprint_der(&leaf.der),
            cert_pem: leaf.cert_pem,
            key_pem: leaf.key_pem,
            ca_pem: self.ca_pem.clone(),
        })
    }
}

/// Writes a certificate and its key as files (key 0600); returns (cert, key) paths.
pub fn write_pair(dir: &Path, name: &str, leaf: &Leaf) -> Result<(PathBuf, PathBuf), String> {
    let (c, k) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    std::fs::write(&c, &leaf.cert_pem).map_err(err)?;
    write_private(&k, leaf.key_pem.as_bytes()).map_err(err)?;
    Ok((c, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_certificate_carries_only_its_identity() {
        let dir = std::env::temp_dir().join(cloudops_store::new_id("pki"));
        let pki = Pki::load_or_create(&dir).unwrap();
        let id = RunnerId::parse("rnr-abc").unwrap();
        let issued = pki.issue_runner(&id, 3).unwrap();
        let ident = callout::identity_from_pem(&issued.cert_pem).unwrap();
        assert_eq!(ident.runner_id, id);
        assert_eq!(ident.generation, 3);
        assert_eq!(ident.fingerprint, issued.fingerprint);
        // Reloading gives the same CA.
        let again = Pki::load_or_create(&dir).unwrap();
        assert_eq!(again.ca_pem(), pki.ca_pem());
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("ca.key")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
