//! What every command works with: where it writes ([`Io`]), the config, org and env it runs
//! in, one HTTP client ([`Ctx`]), and how it fails ([`CliError`]).

use std::{io::Write, path::PathBuf};

use crate::{CliConfig, Client};

/// Where the CLI writes, and where its home is (tests capture both).
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub home: PathBuf,
    /// The editor for `kubectl edit`; None reads KUBE_EDITOR, then EDITOR, then vi.
    pub editor: Option<String>,
    /// Stdin for `kubectl exec -i`; None reads the process' own.
    pub stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
}

#[derive(Debug)]
pub enum CliError {
    /// Shown as `error: …`.
    Message(String),
    /// From the gateway: code, message, upstream status/reason.
    Api { code: String, message: String, upstream_reason: Option<String> },
    /// Exit with this code; whatever needed saying is said.
    Exit(i32),
}

impl From<String> for CliError {
    fn from(s: String) -> Self {
        Self::Message(s)
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

pub(crate) struct Ctx<'a, 'b> {
    pub(crate) io: &'a mut Io<'b>,
    pub(crate) cfg: CliConfig,
    pub(crate) org: Option<String>,
    pub(crate) env: Option<String>,
    /// One HTTP client per invocation: its pooled connections (and TLS sessions) are kept alive
    /// across the command's requests.
    pub(crate) http: std::cell::OnceCell<Client>,
}

impl Ctx<'_, '_> {
    pub(crate) fn env(&self) -> Option<String> {
        self.env.clone().or_else(|| (!self.cfg.env.is_empty()).then(|| self.cfg.env.clone()))
    }

    pub(crate) fn org(&self) -> Result<String> {
        self.org
            .clone()
            .or_else(|| (!self.cfg.org.is_empty()).then(|| self.cfg.org.clone()))
            .ok_or_else(|| CliError::Message("no org: pass --org or set one in the config (`planton login`)".into()))
    }
    pub(crate) fn client(&self) -> Result<Client> {
        if let Some(c) = self.http.get() {
            return Ok(c.clone());
        }
        let c = Client::from_config(&self.cfg)?;
        Ok(self.http.get_or_init(|| c).clone())
    }
    pub(crate) fn out(&mut self, s: &str) {
        let _ = self.io.out.write_all(s.as_bytes());
    }
    pub(crate) fn note(&mut self, s: &str) {
        let _ = writeln!(self.io.err, "{s}");
    }
}
