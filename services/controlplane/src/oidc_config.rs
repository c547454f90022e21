//! `cloudops serve --oidc-…`: sign-in through the company's identity provider.

use std::path::PathBuf;

use clap::Args;
use cloudops_gateway::oidc::OidcSettings;

#[derive(Debug, Clone, Default, Args)]
pub struct OidcArgs {
    /// Let people sign in through this OpenID Connect provider (its issuer URL; https, or
    /// http on loopback for development). The console offers it beside API keys;
    /// `planton login --oidc` uses it. Register <public URL>/v1/auth/oidc/callback as the
    /// client's redirect URI.
    #[arg(long, env = "CLOUDOPS_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the provider.
    #[arg(long, env = "CLOUDOPS_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client's secret (or set CLOUDOPS_OIDC_CLIENT_SECRET).
    #[arg(long, env = "CLOUDOPS_OIDC_CLIENT_SECRET_FILE", value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The ID token claim listing the user's groups, for group grants.
    #[arg(long, env = "CLOUDOPS_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Scopes to ask for besides `openid` (comma- or space-separated); add the one your
    /// provider needs to put groups in the ID token.
    #[arg(long, env = "CLOUDOPS_OIDC_SCOPES", default_value = "profile,email,offline_access")]
    pub oidc_scopes: String,
    /// The org people are made in at their first sign-in [default: --org].
    #[arg(long, env = "CLOUDOPS_OIDC_ORG")]
    pub oidc_org: Option<String>,
    /// The CA (PEM) of a provider whose certificate is not from a public CA.
    #[arg(long, env = "CLOUDOPS_OIDC_CA_FILE", value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_ca_file: Option<PathBuf>,
}

impl OidcArgs {
    /// The checked settings (None without --oidc-issuer), or every problem, one per line.
    pub fn settings(self, default_org: &str, problems: &mut Vec<String>) -> Option<OidcSettings> {
        let issuer = self.oidc_issuer?;
        let before = problems.len();
        match url::Url::parse(&issuer) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && is_loopback(u.host_str().unwrap_or_default()) => {}
            Ok(_) => problems.push(format!(
                "--oidc-issuer {issuer:?}: must be an https:// URL (http:// only on loopback, for development)"
            )),
            Err(e) => problems.push(format!("--oidc-issuer {issuer:?}: {e}")),
        }
        let client_id = self.oidc_client_id.unwrap_or_default();
        if client_id.is_empty() {
            problems.push("--oidc-issuer: also pass --oidc-client-id, the client registered at the provider".into());
        }
        let secret = match (&self.oidc_client_secret_file, std::env::var("CLOUDOPS_OIDC_CLIENT_SECRET")) {
            (Some(f), _) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("--oidc-client-secret-file {}: {e}", f.display())),
            (None, Ok(s)) => Ok(s.trim().to_string()),
            (None, Err(_)) => {
                Err("--oidc-issuer: also pass --oidc-client-secret-file (or set CLOUDOPS_OIDC_CLIENT_SECRET)"
                    .to_string())
            }
        };
        let secret = secret.unwrap_or_else(|e| {
            problems.push(e);
            String::new()
        });
        let ca_pem = self.oidc_ca_file.as_ref().and_then(|f| {
            std::fs::read_to_string(f).map_err(|e| problems.push(format!("--oidc-ca-file {}: {e}", f.display()))).ok()
        });
        let org = self.oidc_org.unwrap_or_else(|| default_org.to_string());
        if let Err(e) = cloudops_store::validate_name("org", &org) {
            problems.push(format!("--oidc-org: {e}"));
        }
        if self.oidc_groups_claim.is_empty() {
            problems.push("--oidc-groups-claim: name the claim that lists groups".into());
        }
        let scopes = self
            .oidc_scopes
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(String::from)
            .collect();
        (problems.len() == before).then_some(OidcSettings {
            issuer,
            client_id,
            client_secret: secret,
            groups_claim: self.oidc_groups_claim,
            scopes,
            org,
            ca_pem,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(issuer: &str) -> OidcArgs {
        OidcArgs {
            oidc_issuer: Some(issuer.into()),
            oidc_client_id: Some("cloudops".into()),
            oidc_groups_claim: "groups".into(),
            oidc_scopes: "profile, email groups openid".into(),
            ..Default::default()
        }
    }

    #[test]
    fn checks_the_provider_settings() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let mut problems = Vec::new();
        let ok = OidcArgs { oidc_client_secret_file: Some(secret.clone()), ..args("http://127.0.0.1:9000/") }
            .settings("default", &mut problems)
            .expect("valid");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ok.client_secret, "s3cret");
        assert_eq!(ok.scopes, vec!["profile", "email", "groups"]);
        assert_eq!(ok.org, "default");

        let mut problems = Vec::new();
        let bad =
            OidcArgs { oidc_client_id: None, oidc_client_secret_file: Some(secret), ..args("http://idp.example/") }
                .settings("default", &mut problems);
        assert!(bad.is_none());
        assert!(problems.iter().any(|p| p.contains("https://")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("--oidc-client-id")), "{problems:?}");
        assert!(OidcArgs::default().settings("default", &mut problems).is_none(), "off without an issuer");
    }
}
