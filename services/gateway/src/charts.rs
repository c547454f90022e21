//! The runner's Helm chart, served as a chart repository, so that installing a runner with
//! Helm needs no checkout of this repository:
//!
//! - `GET /v1/charts/index.yaml`: the repository's index (one chart, one version);
//! - `GET /v1/charts/planton-runner-<version>.tgz`: the chart, packaged at build time
//!   (`build/chart.rs`), with the digest the index gives.
//!
//! ```sh
//! helm upgrade --install prod planton-runner --repo https://<gateway>/v1/charts \
//!   --set-file credentials=./credentials.json
//! ```
//!
//! Public, as chart repositories are: the chart holds no secret (the credentials are a value the
//! user passes) and it is a few KiB.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use cloudops_schemas::v1::ErrorCode;
use serde_yaml_ng::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::ApiError;

const NAME: &str = "planton-runner";
static ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/planton-runner.tgz"));
static CHART_YAML: &str = include_str!("../../../helm/planton-runner/Chart.yaml");

/// The repository: the archive's file name and the index that names it.
#[derive(Debug)]
struct Repository {
    file: String,
    index: String,
}

static REPOSITORY: LazyLock<Repository> = LazyLock::new(|| {
    repository(CHART_YAML, ARCHIVE, &chrono::Utc::now().to_rfc3339())
        .expect("the chart's Chart.yaml, checked by a test")
});

/// The index of a repository holding one chart: its `Chart.yaml` fields, as Helm's own index
/// carries them, with the archive's digest, its URL (relative to the repository's) and when the
/// index was made.
fn repository(chart_yaml: &str, archive: &[u8], now: &str) -> Result<Repository, String> {
    let meta: Mapping = serde_yaml_ng::from_str(chart_yaml).map_err(|e| format!("Chart.yaml: {e}"))?;
    let field = |k: &str| meta.get(k).and_then(Value::as_str).map(String::from);
    if field("name").as_deref() != Some(NAME) {
        return Err(format!("Chart.yaml: the chart is not named {NAME}"));
    }
    let version = field("version").ok_or("Chart.yaml: no version")?;
    let file = format!("{NAME}-{version}.tgz");
    let mut entry = meta.clone();
    entry.insert("digest".into(), data_encoding::HEXLOWER.encode(&Sha256::digest(archive)).into());
    entry.insert("urls".into(), Value::Sequence(vec![file.clone().into()]));
    entry.insert("created".into(), now.into());
    let mut entries = Mapping::new();
    entries.insert(NAME.into(), Value::Sequence(vec![Value::Mapping(entry)]));
    let mut index = Mapping::new();
    index.insert("apiVersion".into(), "v1".into());
    index.insert("entries".into(), Value::Mapping(entries));
    index.insert("generated".into(), now.into());
    let index = serde_yaml_ng::to_string(&index).map_err(|e| e.to_string())?;
    Ok(Repository { file, index })
}

/// `GET /v1/charts/index.yaml`.
#[utoipa::path(get, path = "/v1/charts/index.yaml", tag = "runners", operation_id = "chart_index",
    responses((status = 200, description = "The Helm chart repository's index: the runner's chart", content_type = "application/x-yaml")))]
pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "application/x-yaml")], REPOSITORY.index.as_str()).into_response()
}

/// `GET /v1/charts/{file}`.
#[utoipa::path(get, path = "/v1/charts/{file}", tag = "runners", operation_id = "chart_archive",
    responses((status = 200, description = "The runner's Helm chart (`planton-runner-<version>.tgz`, as the index names it)", content_type = "application/gzip")))]
pub async fn archive(Path(file): Path<String>) -> Result<Response, ApiError> {
    if file != REPOSITORY.file {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no chart file {file:?} here: this repository holds {} (see index.yaml)", REPOSITORY.file),
        ));
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/gzip")], ARCHIVE).into_response())
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn the_index_names_the_archive_with_its_digest_and_the_charts_fields() {
        let repo = repository(CHART_YAML, ARCHIVE, "2026-11-30T00:00:00Z").unwrap();
        let index: Value = serde_yaml_ng::from_str(&repo.index).unwrap();
        let entry = &index["entries"][NAME][0];
        assert_eq!(index["apiVersion"], "v1");
        assert_eq!(entry["name"], NAME);
        assert_eq!(entry["apiVersion"], "v2");
        assert_eq!(entry["urls"][0].as_str(), Some(repo.file.as_str()));
        assert_eq!(repo.file, format!("{NAME}-{}.tgz", entry["version"].as_str().unwrap()));
        let digest = entry["digest"].as_str().unwrap();
        assert_eq!(digest, data_encoding::HEXLOWER.encode(&Sha256::digest(ARCHIVE)));
        assert!(repository("name: other\nversion: 1.0.0\n", ARCHIVE, "t").unwrap_err().contains("not named"));
        assert!(repository("name: planton-runner\n", ARCHIVE, "t").unwrap_err().contains("no version"));
    }

    /// Every file of the chart, under `planton-runner/`, as in the repository.
    #[test]
    fn the_archive_holds_the_chart_as_it_is_in_the_repository() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/planton-runner");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(ARCHIVE));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let rel =
                path.strip_prefix("planton-runner/").unwrap_or_else(|| panic!("{path} outside the chart's directory"));
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            assert_eq!(body, std::fs::read(dir.join(rel)).unwrap(), "{rel} differs from the repository's");
            seen.push(rel.to_string());
        }
        for must in ["Chart.yaml", "values.yaml", "templates/deployment.yaml", "templates/secret.yaml"] {
            assert!(seen.iter().any(|s| s == must), "{must} missing from {seen:?}");
        }
    }
}
