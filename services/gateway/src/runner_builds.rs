//! The runner builds this control plane hands out for `planton runner install`:
//!
//! - `GET /v1/runner-builds`: `{current, builds: [{version, os, arch, sha256, size, url}]}`;
//! - `GET /v1/runner-builds/{version}/{os}-{arch}`: the binary, with `x-checksum-sha256`.
//!
//! Both need a person's or service account's API key (not a runner's): the bytes are not
//! secret, but an anonymous client should not be able to pull hundreds of megabytes at will.
//!
//! Where the builds come from: the `planton-runner` beside `cloudops` (this version, this
//! machine's platform), and a directory of releases (`cloudops serve --runner-builds DIR`)
//! laid out as `DIR/VERSION/planton-runner-OS-ARCH`, with the release's `DIR/VERSION/SHA256SUMS`
//! (`sha256sum` format). A published checksum is served as published, never recomputed, so a
//! file altered after its release fails the client's check. A build without one is hashed the
//! first time it is asked for.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use cloudops_schemas::v1::ErrorCode;

use crate::{ApiError, routes::AppState};

const BINARY: &str = "planton-runner";
/// This control plane's version: the default of `planton runner install`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn internal(msg: String) -> ApiError {
    ApiError::new(ErrorCode::Internal, msg)
}

/// A problem with the builds directory, named with its path.
#[derive(Debug, thiserror::Error)]
pub enum RunnerBuildsError {
    #[error("runner builds: reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("runner builds: {path} line {line}: expected `<64 hex digits>  <file name>`")]
    BadSums { path: PathBuf, line: usize },
}

struct Build {
    version: String,
    os: String,
    arch: String,
    path: PathBuf,
    /// Published (SHA256SUMS) or computed on first use.
    sha256: OnceCell<String>,
}

/// The builds on offer; cheap to clone.
#[derive(Clone, Default)]
pub struct RunnerBuilds {
    /// Keyed by (version, "os-arch").
    builds: Arc<BTreeMap<(String, String), Build>>,
}

impl RunnerBuilds {
    /// `beside`: the runner of this very version for this machine's platform, if there is one.
    pub fn discover(beside: Option<PathBuf>, dir: Option<&Path>) -> Result<Self, RunnerBuildsError> {
        let mut builds = BTreeMap::new();
        if let Some(dir) = dir {
            let entries =
                std::fs::read_dir(dir).map_err(|source| RunnerBuildsError::Read { path: dir.into(), source })?;
            // A version is a directory named like one (it becomes part of a URL); an entry that
            // cannot be read is skipped with a warning, never a reason to offer nothing.
            for vdir in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
                let Some(v) = vdir.file_name().and_then(|n| n.to_str()).filter(|v| token(v)).map(String::from) else {
                    continue;
                };
                let sums = published_sums(&vdir.join("SHA256SUMS"))?;
                let files = match std::fs::read_dir(&vdir) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(dir = %vdir.display(), error = %e, "runner builds: skipped");
                        continue;
                    }
                };
                for file in files.flatten().filter(|f| f.file_type().is_ok_and(|t| t.is_file())) {
                    let name = file.file_name().to_string_lossy().to_string();
                    let Some((os, arch)) = name
                        .strip_prefix("planton-runner-")
                        .and_then(|p| p.split_once('-'))
                        .filter(|(os, arch)| platform_part(os) && platform_part(arch))
                    else {
                        continue;
                    };
                    let sha256 = OnceCell::new_with(sums.get(&name).cloned());
                    let build =
                        Build { version: v.clone(), os: os.into(), arch: arch.into(), path: file.path(), sha256 };
                    builds.insert((v.clone(), format!("{os}-{arch}")), build);
                }
            }
        }
        if let Some(path) = beside.filter(|p| p.is_file()) {
            let (os, arch) = (std::env::consts::OS.to_string(), std::env::consts::ARCH.to_string());
            builds.entry((VERSION.to_string(), format!("{os}-{arch}"))).or_insert(Build {
                version: VERSION.into(),
                os,
                arch,
                path,
                sha256: OnceCell::new(),
            });
        }
        Ok(Self { builds: Arc::new(builds) })
    }

    /// Hashes, in the background, the builds without a published checksum, so that the first
    /// `runner install` does not wait for it.
    pub fn warm(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            for b in this.builds.values() {
                if let Err(e) = sha256_of(b).await {
                    tracing::warn!(build = %b.path.display(), error = %e.0.message, "runner build not hashed");
                }
            }
        });
    }
}

/// A version: what release names are made of.
fn token(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+".contains(&b) || b == b'-')
}

/// An os or an architecture as Rust names them (`linux`, `x86_64`, `aarch64`): no dots, so
/// `planton-runner-linux-x86_64.sha256` or `.sig` files are never offered as builds.
fn platform_part(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `sha256sum` output: `<hex>  <name>` (or `<hex> *<name>`) per line.
fn published_sums(path: &Path) -> Result<BTreeMap<String, String>, RunnerBuildsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(RunnerBuildsError::Read { path: path.into(), source }),
    };
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || RunnerBuildsError::BadSums { path: path.into(), line: i + 1 };
        let (hex, name) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let name = name.trim_start().trim_start_matches('*');
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return Err(bad());
        }
        out.insert(name.to_string(), hex.to_ascii_lowercase());
    }
    Ok(out)
}

async fn sha256_of(build: &Build) -> Result<&str, ApiError> {
    build
        .sha256
        .get_or_try_init(|| async {
            let path = build.path.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut hasher = Sha256::new();
                std::io::copy(&mut std::fs::File::open(&path)?, &mut hasher)?;
                Ok(data_encoding::HEXLOWER.encode(&hasher.finalize()))
            })
            .await
            .map_err(|e| internal(format!("hashing the runner build: {e}")))?
            .map_err(|e| internal(format!("reading the runner build: {e}")))
        })
        .await
        .map(String::as_str)
}

async fn caller(s: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    // A runner's own key stays good for `whoami` only (see the threat model).
    crate::routes::authenticate(&s.deps, method, headers).await.and_then(|w| w.not_a_runner()).map(|_| ())
}

#[utoipa::path(get, path = "/v1/runner-builds", tag = "runners", operation_id = "list_runner_builds", responses((status = 200, body = cloudops_api::RunnerBuildList)))]
pub async fn list(State(s): State<AppState>, method: Method, headers: HeaderMap) -> Result<Response, ApiError> {
    caller(&s, &method, &headers).await?;
    let mut builds = Vec::new();
    for b in s.deps.config.runner_builds.builds.values() {
        builds.push(cloudops_api::RunnerBuild {
            version: b.version.clone(),
            os: b.os.clone(),
            arch: b.arch.clone(),
            sha256: sha256_of(b).await?.to_string(),
            size: std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0),
            url: format!("/v1/runner-builds/{}/{}-{}", b.version, b.os, b.arch),
        });
    }
    Ok(axum::Json(cloudops_api::RunnerBuildList { current: VERSION.into(), builds }).into_response())
}

#[utoipa::path(get, path = "/v1/runner-builds/{version}/{platform}", tag = "runners", operation_id = "download_runner_build", responses((status = 200, description = "The runner binary; its SHA-256 in `x-checksum-sha256`", content_type = "application/octet-stream")))]
pub async fn download(
    State(s): State<AppState>,
    UrlPath((version, platform)): UrlPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller(&s, &method, &headers).await?;
    let all = &s.deps.config.runner_builds.builds;
    let Some(b) = all.get(&(version.clone(), platform.clone())) else {
        let offered: Vec<String> = all.keys().map(|(v, p)| format!("{v} ({p})")).collect();
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "no runner build {version} for {platform}; this control plane offers: {}",
                if offered.is_empty() { "none".to_string() } else { offered.join(", ") }
            ),
        ));
    };
    let sha = sha256_of(b).await?.to_string();
    let file = tokio::fs::File::open(&b.path).await.map_err(|e| internal(format!("opening the runner build: {e}")))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CONTENT_LENGTH, size.to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{BINARY}\"")),
        (header::HeaderName::from_static("x-checksum-sha256"), sha),
    ];
    Ok((StatusCode::OK, headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_sums_are_read_as_sha256sum_writes_them_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("SHA256SUMS");
        let hex = "ab".repeat(32);
        std::fs::write(&p, format!("{hex}  planton-runner-linux-x86_64\n{hex} *planton-runner-linux-aarch64\n"))
            .unwrap();
        let sums = published_sums(&p).unwrap();
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["planton-runner-linux-aarch64"], hex);
        std::fs::write(&p, "nothex  planton-runner-linux-x86_64\n").unwrap();
        let e = published_sums(&p).unwrap_err().to_string();
        assert!(e.contains("SHA256SUMS line 1"), "{e}");
        assert!(published_sums(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn builds_are_found_by_version_and_platform() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("0.1.5");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("planton-runner-linux-x86_64"), b"x").unwrap();
        std::fs::write(v.join("README"), b"not a build").unwrap();
        std::fs::write(v.join("planton-runner-linux-x86_64.sig"), b"a signature").unwrap();
        std::fs::create_dir_all(v.join("planton-runner-linux-aarch64")).unwrap();
        std::fs::create_dir_all(dir.path().join("not a version")).unwrap();
        let b = RunnerBuilds::discover(None, Some(dir.path())).unwrap();
        let keys: Vec<_> = b.builds.keys().cloned().collect();
        assert_eq!(keys, [("0.1.5".to_string(), "linux-x86_64".to_string())]);
        let e = RunnerBuilds::discover(None, Some(&dir.path().join("missing"))).err().unwrap().to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
