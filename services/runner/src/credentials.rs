//! Where a runner's credentials come from, in the order seed 002 gives:
//! `--credentials-file` / `PLANTON_RUNNER_CREDENTIALS_FILE` → `PLANTON_RUNNER_CREDENTIALS`
//! (inline JSON) → the local store under `$PLANTON_HOME` by `NAME --org ORG`.

use std::path::{Path, PathBuf};

use cloudops_schemas::{RunnerCredentials, local_store};

#[derive(Debug, Default, Clone)]
pub struct CredentialSources {
    pub file: Option<PathBuf>,
    pub inline: Option<String>,
    pub name: Option<String>,
    pub org: Option<String>,
    pub planton_home: PathBuf,
}

pub fn resolve(src: &CredentialSources) -> Result<(RunnerCredentials, String), String> {
    if let Some(path) = &src.file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("credentials file {}: {e}", path.display()))?;
        let c = RunnerCredentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((c, format!("file {}", path.display())));
    }
    if let Some(json) = src.inline.as_deref().filter(|s| !s.trim().is_empty()) {
        let c = RunnerCredentials::parse(json).map_err(|e| format!("PLANTON_RUNNER_CREDENTIALS: {e}"))?;
        return Ok((c, "PLANTON_RUNNER_CREDENTIALS".into()));
    }
    if let Some(name) = &src.name {
        return from_store(&src.planton_home, name, src.org.as_deref());
    }
    Err("no runner credentials: pass --credentials-file FILE (or set PLANTON_RUNNER_CREDENTIALS_FILE), set PLANTON_RUNNER_CREDENTIALS to the JSON, or name a runner from the local store: `planton runner start NAME --org ORG`".into())
}

/// Scans `$PLANTON_HOME/runners` for credentials of runner `name` (in `org`, if given).
fn from_store(home: &Path, name: &str, org: Option<&str>) -> Result<(RunnerCredentials, String), String> {
    if let Some(org) = org {
        let path = local_store::runner_credentials_path(home, org, name);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let c = RunnerCredentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok((c, format!("local store {}", path.display())));
        }
    }
    let root = local_store::runners_dir(home);
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json")
                && let Ok(text) = std::fs::read_to_string(&p)
                && let Ok(c) = RunnerCredentials::parse(&text)
                && c.runner_name == name
                && org.is_none_or(|o| o == c.org)
            {
                found.push((c, p));
            }
        }
    }
    match found.len() {
        1 => {
            let (c, p) = found.remove(0);
            Ok((c, format!("local store {}", p.display())))
        }
        0 => Err(format!(
            "runner {name:?}{} not found in the local store {} (generate credentials first: `planton runner generate-credentials {name}`)",
            org.map(|o| format!(" of org {o:?}")).unwrap_or_default(),
            root.display()
        )),
        _ => Err(format!("runner {name:?} is in the local store for several orgs: pass --org")),
    }
}
