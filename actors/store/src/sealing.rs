//! Sealing an org's secrets: AES-256-GCM (ring) under the control plane's secrets key, a file
//! outside the database (`cloudops serve --secrets-key-file`, by default `secrets.key` in the
//! data dir). A copy of the database alone opens nothing. Each value is bound to its org and
//! name (the AEAD's associated data): a sealed value copied onto another row does not open.

use std::path::Path;

use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use thiserror::Error;

const PREFIX: &str = "v1.";
const KEY_LEN: usize = 32;

#[derive(Debug, Error)]
pub enum SealError {
    #[error("secrets key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "secret {name:?} does not open with this control plane's secrets key: it was sealed under another key (the control plane must run with the key file it was sealed with) or altered"
    )]
    Open { name: String },
}

/// The key every secret of this control plane is sealed with.
pub struct SecretsKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self { key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key")) }
    }

    /// A fresh random key (tests; `load_or_create` for a control plane).
    pub fn generate() -> Self {
        Self::from_bytes(&random_key())
    }

    /// Reads the key file (base64 of 32 bytes), or creates it with a new random key, readable
    /// by its owner only. Replicas of one control plane must be given the same file.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let fail = |reason: String| SealError::KeyFile { path: path.display().to_string(), reason };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                #[cfg(unix)]
                if let Ok(m) = std::fs::metadata(path) {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = m.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the secrets key file is readable by others than its owner: chmod 600 it");
                    }
                }
                let bytes = data_encoding::BASE64
                    .decode(text.trim().as_bytes())
                    .map_err(|e| fail(format!("not base64: {e}")))?;
                let bytes: [u8; KEY_LEN] = bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| fail(format!("holds {} bytes, a secrets key is {KEY_LEN}", b.len())))?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_key();
                write_owner_only(path, format!("{}\n", data_encoding::BASE64.encode(&bytes)).as_bytes())
                    .map_err(|e| fail(e.to_string()))?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    pub fn seal(&self, org_id: &str, name: &str, value: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system's random source");
        let mut buf = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(org_id, name).as_slice()),
                &mut buf,
            )
            .expect("AES-GCM seals any value under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}", data_encoding::BASE64URL_NOPAD.encode(&out))
    }

    pub fn open(&self, org_id: &str, name: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let err = || SealError::Open { name: name.to_string() };
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| data_encoding::BASE64URL_NOPAD.decode(b.as_bytes()).ok())
            .filter(|r| r.len() >= NONCE_LEN)
            .ok_or_else(err)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| err())?;
        let mut buf = body.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(aad(org_id, name).as_slice()), &mut buf).map_err(|_| err())?;
        Ok(plain.to_vec())
    }
}

fn aad(org_id: &str, name: &str) -> Vec<u8> {
    format!("cloudops-secret\0{org_id}\0{name}").into_bytes()
}

fn random_key() -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut k).expect("the system's random source");
    k
}

/// Creates `path` with `data`, mode 0600 from the start (never world-readable for a moment);
/// refuses to replace a file that appeared meanwhile.
fn write_owner_only(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_under_its_key_org_and_name() {
        let k = SecretsKey::generate();
        let sealed = k.seal("org-a", "role", b"arn:aws:iam::111111111111:role/ops");
        assert_eq!(k.open("org-a", "role", &sealed).unwrap(), b"arn:aws:iam::111111111111:role/ops");
        assert!(!sealed.contains("arn"), "{sealed}");
        assert!(matches!(k.open("org-b", "role", &sealed), Err(SealError::Open { .. })));
        assert!(matches!(k.open("org-a", "other", &sealed), Err(SealError::Open { .. })));
        assert!(SecretsKey::generate().open("org-a", "role", &sealed).is_err());
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(sealed, k.seal("org-a", "role", b"arn:aws:iam::111111111111:role/ops"));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(k.open("org-a", "role", &tampered).is_err());
        assert!(k.open("org-a", "role", "v1.").is_err() && k.open("org-a", "role", "garbage").is_err());
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let k = SecretsKey::load_or_create(&path).unwrap();
        let sealed = k.seal("o", "n", b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(SecretsKey::load_or_create(&path).unwrap().open("o", "n", &sealed).unwrap(), b"v");
        std::fs::write(&path, "c2hvcnQ=\n").unwrap();
        let e = SecretsKey::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("holds 5 bytes, a secrets key is 32"), "{e}");
    }
}
