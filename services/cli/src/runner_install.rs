//! `planton runner install [--version V]`: downloads the runner binary from the control plane
//! (`/v1/runner-builds`), checks its SHA-256 against the one the control plane publishes, and
//! puts it at `$PLANTON_HOME/bin/planton-runner`, where `planton runner start` looks first.
//! Nothing is replaced unless the whole file arrived and its checksum matched.

use std::io::Write;

use cloudops_api as api;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::{Ctx, Result};

pub async fn install(ctx: &mut Ctx<'_, '_>, version: Option<String>) -> Result<()> {
    let c = ctx.client()?;
    let offer: api::RunnerBuildList = c.get_as("/v1/runner-builds").await?;
    let version = version.unwrap_or_else(|| offer.current.clone());
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    let Some(build) = offer.builds.iter().find(|b| b.version == version && b.os == os && b.arch == arch) else {
        return Err(not_offered(&c.endpoint, &version, os, arch, &offer.builds).into());
    };
    let want = build.sha256.clone();
    // The URL is ours to build: the bearer key goes to the logged-in endpoint only.
    let url = format!("/v1/runner-builds/{}/{os}-{arch}", crate::admin::enc(&version));
    if want.len() != 64 {
        return Err(format!(
            "the control plane published no SHA-256 for planton-runner {version}: refusing to install it"
        )
        .into());
    }
    let dir = ctx.io.home.join("bin");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dest = dir.join("planton-runner");
    // A file of our own beside the destination, so that the final rename is atomic.
    let mut part = tempfile::Builder::new()
        .prefix(".planton-runner.")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let resp = c.get_stream(&url, &[]).await?;
    let mut hasher = Sha256::new();
    let mut body = resp.bytes_stream();
    let bar = crate::progress::bytes(build.size, &format!("planton-runner {version}"));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("downloading planton-runner {version}: {e}"))?;
        hasher.update(&chunk);
        part.write_all(&chunk).map_err(|e| format!("{}: {e}", part.path().display()))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let got = hex(&hasher.finalize());
    if !got.eq_ignore_ascii_case(&want) {
        return Err(format!(
            "checksum mismatch for planton-runner {version} ({os}-{arch}) from {}: the control plane published {want}, the download is {got}; nothing was installed",
            c.endpoint
        )
        .into());
    }
    part.as_file().sync_all().map_err(|e| format!("{}: {e}", part.path().display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        part.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", part.path().display()))?;
    }
    part.persist(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    ctx.out(&format!("planton-runner {version} ({os}-{arch}) installed at {}\nsha256 {got}\n", dest.display()));
    Ok(())
}

fn not_offered(endpoint: &str, version: &str, os: &str, arch: &str, builds: &[api::RunnerBuild]) -> String {
    let mut here: Vec<&str> =
        builds.iter().filter(|b| b.os == os && b.arch == arch).map(|b| b.version.as_str()).collect();
    here.dedup();
    let elsewhere: Vec<String> =
        builds.iter().filter(|b| b.version == version).map(|b| format!("{}-{}", b.os, b.arch)).collect();
    let mut msg = format!("runner version {version} is not available for {os}-{arch} from {endpoint}");
    msg.push_str(&match here.as_slice() {
        [] => format!("; it offers no runner build for {os}-{arch}"),
        v => format!("; available versions: {}", v.join(", ")),
    });
    if !elsewhere.is_empty() {
        msg.push_str(&format!(" ({version} is offered for {})", elsewhere.join(", ")));
    }
    msg
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use cloudops_api::RunnerBuild;

    fn build(version: &str, arch: &str) -> RunnerBuild {
        let (os, sha256, url) = ("linux".into(), String::new(), String::new());
        RunnerBuild { version: version.into(), os, arch: arch.into(), sha256, size: 0, url }
    }

    #[test]
    fn an_unknown_version_lists_the_available_ones() {
        let builds = [build("0.1.0", "x86_64"), build("0.1.5", "x86_64"), build("0.2.0", "aarch64")];
        let m = super::not_offered("https://cp", "0.2.0", "linux", "x86_64", &builds);
        assert_eq!(
            m,
            "runner version 0.2.0 is not available for linux-x86_64 from https://cp; available versions: 0.1.0, 0.1.5 (0.2.0 is offered for linux-aarch64)"
        );
    }
}
