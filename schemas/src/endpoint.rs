//! Where an API key may be sent: the control plane's endpoint as the CLI and the runner use it.

/// An API key never travels in the clear: `https://`, or plain `http://` to a loopback address
/// only (a local control plane started with --plain-http, or a local TLS-terminating proxy).
pub fn check_api_endpoint(endpoint: &str) -> Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("endpoint {endpoint:?}: must not carry a user name or password"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "refusing to send an API key over plain HTTP to {endpoint}: use https:// (plain http:// is allowed to loopback addresses only)"
                ))
            }
        }
        other => Err(format!("endpoint {endpoint:?}: must be an https:// URL, not {other}://")),
    }
}

#[cfg(test)]
mod tests {
    use super::check_api_endpoint;

    #[test]
    fn keys_travel_over_https_or_to_loopback_only() {
        for ok in
            ["https://cloudops.example.com", "http://127.0.0.1:7480", "http://localhost:7480/", "http://[::1]:7480"]
        {
            assert!(check_api_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://cloudops.example.com",
            "http://10.0.0.1:7480",
            "http://127.0.0.1.evil.example",
            "ftp://x",
            "http://localhost.evil:80",
            "https://user:pw@cloudops.example.com",
        ] {
            let e = check_api_endpoint(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
