//! `planton kube login | logout | ls | credential`: a kubeconfig context per connection (admin
//! mode) or per catalog resource (developer mode), so that the user's own kubectl, helm, k9s or
//! Headlamp work through the gateway's Kubernetes API proxy.
//!
//! The context's user is an exec credential plugin (`planton kube credential`), so no secret is
//! written into the kubeconfig. The kubeconfig is merged, never clobbered: other clusters, users
//! and contexts and every field we do not write stay as they were.

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use clap::Subcommand;
use serde_json::json;
use serde_yaml_ng::{Mapping, Value};

use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum KubeCommand {
    /// Add a context for a connection (admin mode) or a catalog resource (developer mode) to
    /// your kubeconfig, and switch to it.
    Login {
        /// Admin mode: the connection whose cluster the context reaches.
        #[arg(long, conflicts_with = "resource")]
        connection: Option<String>,
        /// Developer mode: org/env/Kind/name; the context is locked to the resource's namespace.
        #[arg(short = 'r', long)]
        resource: Option<String>,
        /// The context's default namespace (admin mode).
        #[arg(short = 'n', long, conflicts_with = "resource")]
        namespace: Option<String>,
        /// Write to this kubeconfig instead of $KUBECONFIG or ~/.kube/config.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The context's name (default: planton-<org>-<connection> or planton-<org>-<env>-<kind>-<name>).
        #[arg(long)]
        context: Option<String>,
        /// The command kubectl runs for a credential (default: this planton).
        #[arg(long)]
        credential_command: Option<PathBuf>,
    },
    /// Remove a context `login` added (or all of them with --all).
    Logout {
        context: Option<String>,
        #[arg(long, conflicts_with = "context")]
        all: bool,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// The contexts `login` added.
    Ls {
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// The exec credential plugin kubectl runs (client.authentication.k8s.io/v1).
    Credential,
}

const EXEC_API: &str = "client.authentication.k8s.io/v1";

fn kubeconfig_path(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(first) =
        std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").ok_or_else(|| CliError::Message("no $HOME: pass --kubeconfig".into()))?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

fn load(path: &Path) -> Result<Mapping> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::Message(format!("{}: {e}", path.display()))),
    };
    if text.trim().is_empty() {
        let mut m = Mapping::new();
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Config".into());
        return Ok(m);
    }
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(_) => Err(CliError::Message(format!("{}: not a kubeconfig (not a mapping)", path.display()))),
        Err(e) => Err(CliError::Message(format!("{}: not a kubeconfig: {e}", path.display()))),
    }
}

/// Writes the kubeconfig owner-only, through a temporary file in the same directory, so that a
/// failure never leaves half a file.
fn save(path: &Path, config: &Mapping) -> Result<()> {
    use std::{io::Write, os::unix::fs::PermissionsExt};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CliError::Message(format!("{}: {e}", dir.display())))?;
    let text = serde_yaml_ng::to_string(config).map_err(|e| CliError::Message(e.to_string()))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| CliError::Message(format!("{}: {e}", dir.display())))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| CliError::Message(e.to_string()))?;
    tmp.write_all(text.as_bytes()).map_err(|e| CliError::Message(e.to_string()))?;
    tmp.persist(path).map_err(|e| CliError::Message(format!("{}: {}", path.display(), e.error)))?;
    Ok(())
}

/// The named entries of one list (`clusters`, `users`, `contexts`).
fn entries<'a>(config: &'a mut Mapping, list: &str) -> Result<&'a mut Vec<Value>> {
    let v = config.entry(list.into()).or_insert_with(|| Value::Sequence(Vec::new()));
    if v.is_null() {
        *v = Value::Sequence(Vec::new());
    }
    v.as_sequence_mut().ok_or_else(|| CliError::Message(format!("kubeconfig: `{list}` is not a list")))
}

fn upsert(config: &mut Mapping, list: &str, key: &str, name: &str, body: Value) -> Result<()> {
    let v = entries(config, list)?;
    let mut entry = Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert(key.into(), body);
    match v.iter_mut().find(|e| e.get("name").and_then(Value::as_str) == Some(name)) {
        Some(old) => *old = Value::Mapping(entry),
        None => v.push(Value::Mapping(entry)),
    }
    Ok(())
}

fn remove(config: &mut Mapping, list: &str, name: &str) -> Result<()> {
    entries(config, list)?.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
    Ok(())
}

fn yaml(v: serde_json::Value) -> Value {
    serde_yaml_ng::to_value(v).expect("json is yaml")
}

fn plain(what: &str, s: &str) -> Result<()> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        Ok(())
    } else {
        Err(CliError::Message(format!("{what} {s:?} must be a plain name (letters, digits, `-`, `.`)")))
    }
}

/// The proxy prefix of a context's server, and where it reaches.
const PROXY_PATH: &str = "/v1/kube/";

pub async fn run(ctx: &mut Ctx<'_, '_>, cmd: KubeCommand) -> Result<()> {
    match cmd {
        KubeCommand::Login { connection, resource, namespace, kubeconfig, context, credential_command } => {
            login(ctx, connection, resource, namespace, kubeconfig, context, credential_command).await
        }
        KubeCommand::Logout { context, all, kubeconfig } => logout(ctx, context, all, kubeconfig),
        KubeCommand::Ls { kubeconfig } => ls(ctx, kubeconfig),
        KubeCommand::Credential => credential(ctx),
    }
}

async fn login(
    ctx: &mut Ctx<'_, '_>,
    connection: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    credential_command: Option<PathBuf>,
) -> Result<()> {
    let client = ctx.client()?;
    let (name, server_path, ns) = match (connection, resource) {
        (Some(conn), None) => {
            let org = ctx.org()?;
            plain("org", &org)?;
            plain("connection", &conn)?;
            let c = client.get(&format!("/v1/orgs/{org}/connections/{conn}")).await?;
            if c["provider"].as_str().is_some_and(|p| p != "kubernetes") {
                return Err(CliError::Message(format!("connection {conn} is not a Kubernetes connection")));
            }
            (format!("planton-{org}-{conn}"), format!("connections/{org}/{conn}"), namespace.unwrap_or_default())
        }
        (None, Some(path)) => {
            let parts: Vec<&str> = path.split('/').collect();
            let [org, env, kind, rname] = parts.as_slice() else {
                return Err(CliError::Message(format!("--resource {path:?}: expected org/env/Kind/name")));
            };
            for (what, p) in [("org", org), ("env", env), ("kind", kind), ("name", rname)] {
                plain(what, p)?;
            }
            let r = client.get(&format!("/v1/orgs/{org}/envs/{env}/resources/{kind}/{rname}")).await?;
            let ns = r["spec"]["namespace"].as_str().unwrap_or_default().to_string();
            (
                format!("planton-{org}-{env}-{}-{rname}", kind.to_ascii_lowercase()),
                format!("resources/{org}/{env}/{kind}/{rname}"),
                ns,
            )
        }
        _ => {
            return Err(CliError::Message(
                "say which: --connection NAME (admin mode) or -r org/env/Kind/name (developer mode)".into(),
            ));
        }
    };
    let name = context.unwrap_or(name);
    let endpoint = client.endpoint.trim_end_matches('/').to_string();
    let mut cluster = json!({"server": format!("{endpoint}{PROXY_PATH}{server_path}")});
    if endpoint.starts_with("https://") && !ctx.cfg.ca_cert.trim().is_empty() {
        cluster["certificate-authority-data"] = json!(B64.encode(ctx.cfg.ca_cert.as_bytes()));
    }
    let command = match credential_command {
        Some(c) => c,
        None => std::env::current_exe()
            .ok()
            .filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("planton")))
            .unwrap_or_else(|| PathBuf::from("planton")),
    };
    let user = json!({"exec": {
        "apiVersion": EXEC_API,
        "command": command.display().to_string(),
        "args": ["kube", "credential"],
        // The same config as this login, wherever PLANTON_HOME pointed.
        "env": [{"name": "PLANTON_HOME", "value": ctx.io.home.display().to_string()}],
        "interactiveMode": "Never",
        "provideClusterInfo": false,
    }});
    let mut context_body = json!({"cluster": name, "user": name});
    if !ns.is_empty() {
        context_body["namespace"] = json!(ns);
    }
    let path = kubeconfig_path(kubeconfig)?;
    let mut config = load(&path)?;
    upsert(&mut config, "clusters", "cluster", &name, yaml(cluster))?;
    upsert(&mut config, "users", "user", &name, yaml(user))?;
    upsert(&mut config, "contexts", "context", &name, yaml(context_body))?;
    config.insert("current-context".into(), name.clone().into());
    save(&path, &config)?;
    ctx.note(&format!("Context {name:?} added to {} and made current.", path.display()));
    if !ns.is_empty() {
        ctx.note(&format!("Namespace: {ns}"));
    }
    Ok(())
}

/// The contexts of this kubeconfig whose cluster is one of our proxies: (name, server, namespace).
fn ours(config: &Mapping) -> Vec<(String, String, String)> {
    let get = |list: &str| config.get(list).and_then(Value::as_sequence).cloned().unwrap_or_default();
    let clusters = get("clusters");
    get("contexts")
        .iter()
        .filter_map(|c| {
            let name = c.get("name")?.as_str()?.to_string();
            let body = c.get("context")?;
            let cluster = body.get("cluster")?.as_str()?;
            let server = clusters
                .iter()
                .find(|k| k.get("name").and_then(Value::as_str) == Some(cluster))?
                .get("cluster")?
                .get("server")?
                .as_str()?
                .to_string();
            server.contains(PROXY_PATH).then(|| {
                let ns = body.get("namespace").and_then(Value::as_str).unwrap_or_default().to_string();
                (name, server, ns)
            })
        })
        .collect()
}

fn logout(ctx: &mut Ctx<'_, '_>, context: Option<String>, all: bool, kubeconfig: Option<PathBuf>) -> Result<()> {
    let path = kubeconfig_path(kubeconfig)?;
    let mut config = load(&path)?;
    let mine: Vec<String> = ours(&config).into_iter().map(|(n, _, _)| n).collect();
    let gone: Vec<String> = match (context, all) {
        (_, true) => mine,
        (Some(c), false) if mine.contains(&c) => vec![c],
        (Some(c), false) => return Err(CliError::Message(format!("no planton context {c:?} in {}", path.display()))),
        (None, false) => {
            let current = config.get("current-context").and_then(Value::as_str).unwrap_or_default().to_string();
            if !mine.contains(&current) {
                return Err(CliError::Message(
                    "name the context to remove (see `planton kube ls`), or pass --all".into(),
                ));
            }
            vec![current]
        }
    };
    for name in &gone {
        for (list, entry) in [("contexts", name), ("clusters", name), ("users", name)] {
            remove(&mut config, list, entry)?;
        }
        if config.get("current-context").and_then(Value::as_str) == Some(name) {
            config.insert("current-context".into(), "".into());
        }
        ctx.note(&format!("Context {name:?} removed."));
    }
    save(&path, &config)
}

fn ls(ctx: &mut Ctx<'_, '_>, kubeconfig: Option<PathBuf>) -> Result<()> {
    let path = kubeconfig_path(kubeconfig)?;
    let config = load(&path)?;
    let current = config.get("current-context").and_then(Value::as_str).unwrap_or_default().to_string();
    let rows = ours(&config);
    if rows.is_empty() {
        ctx.note(&format!("No planton contexts in {}; add one with `planton kube login`.", path.display()));
        return Ok(());
    }
    let mut out = format!("{:<8} {:<40} {:<10} {:<16} {}\n", "CURRENT", "NAME", "MODE", "NAMESPACE", "SERVER");
    for (name, server, ns) in rows {
        let mode = if server.contains("/v1/kube/resources/") { "developer" } else { "admin" };
        let mark = if name == current { "*" } else { "" };
        out.push_str(&format!("{mark:<8} {name:<40} {mode:<10} {ns:<16} {server}\n"));
    }
    ctx.out(&out);
    Ok(())
}

/// Prints an ExecCredential carrying the API key of this planton's config (or
/// `PLANTON_API_KEY`); kubectl sends it as the bearer token.
fn credential(ctx: &mut Ctx<'_, '_>) -> Result<()> {
    let from_env = std::env::var("PLANTON_API_KEY").ok().filter(|k| !k.is_empty());
    let expires = if from_env.is_some() { None } else { ctx.cfg.api_key_expires_at };
    let key = from_env.unwrap_or_else(|| ctx.cfg.api_key.clone());
    if key.is_empty() {
        return Err(CliError::Message("no API key in the planton config: run `planton login`".into()));
    }
    let mut status = json!({"token": key});
    // A sign-in's key expires: kubectl asks again from then on (and planton renews it first).
    if let Some(t) = expires {
        status["expirationTimestamp"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let cred = json!({"apiVersion": EXEC_API, "kind": "ExecCredential", "status": status});
    ctx.out(&format!("{cred}\n"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_what_was_there_and_replaces_our_own_entry() {
        let text = "apiVersion: v1\nkind: Config\npreferences: {colors: true}\nclusters:\n- name: prod\n  cluster: {server: https://prod:6443}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: prod}\nusers:\n- name: prod\n  user: {token: abc}\ncurrent-context: prod\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let mut c = load(&path).unwrap();
        for _ in 0..2 {
            upsert(
                &mut c,
                "clusters",
                "cluster",
                "planton-x",
                yaml(json!({"server": "https://gw/v1/kube/connections/o/x"})),
            )
            .unwrap();
            upsert(
                &mut c,
                "contexts",
                "context",
                "planton-x",
                yaml(json!({"cluster": "planton-x", "user": "planton-x"})),
            )
            .unwrap();
        }
        save(&path, &c).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.get("clusters").unwrap().as_sequence().unwrap().len(), 2);
        assert_eq!(back.get("preferences").unwrap()["colors"], Value::Bool(true));
        assert_eq!(back.get("users").unwrap()[0]["user"]["token"], Value::from("abc"));
        assert_eq!(ours(&back).len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_file_that_is_not_a_kubeconfig_is_named_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "- just\n- a list\n").unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(e, CliError::Message(m) if m.contains("not a kubeconfig")));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "- just\n- a list\n");
    }
}
