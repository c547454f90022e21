//! The loopback end of a browser sign-in: one listener on 127.0.0.1 that waits for the browser
//! to bring `/callback?code=…` (or `?error=…`) and answers it with a page saying what happened.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{CliError, Result};

/// The most a browser's request may hold here (its request line and headers).
const MAX_REQUEST: usize = 16 * 1024;

/// The code the browser brings, or why the sign-in failed; other requests (a favicon) get a
/// 404 and the wait goes on.
pub(crate) async fn wait_for_code(listener: &TcpListener, within: Duration) -> Result<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await.map_err(|_| {
            CliError::Message(format!(
                "the browser did not come back within {} minutes: run planton login --oidc again (or --device)",
                within.as_secs() / 60
            ))
        })?;
        let Ok((mut stream, _)) = accepted else { continue };
        let Some(target) = request_target(&mut stream).await else {
            let _ = respond(&mut stream, "400 Bad Request", "This is planton's sign-in listener.").await;
            continue;
        };
        let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else { continue };
        if url.path() != "/callback" {
            let _ = respond(&mut stream, "404 Not Found", "This is planton's sign-in listener.").await;
            continue;
        }
        let param = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        return match (param("code"), param("error")) {
            (Some(code), _) if !code.is_empty() => {
                let _ = respond(
                    &mut stream,
                    "200 OK",
                    "Signed in to Cloud Ops. You can close this tab and go back to the terminal.",
                )
                .await;
                Ok(code)
            }
            (_, error) => {
                let why = error.unwrap_or_else(|| "the answer had no code".into());
                let _ = respond(&mut stream, "200 OK", &format!("The sign-in did not finish: {why}")).await;
                Err(CliError::Message(format!("the sign-in did not finish: {why}")))
            }
        };
    }
}

/// The request's target (`/callback?…`), once its head is read.
async fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return req.path.map(String::from),
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => continue,
            _ => return None,
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Cloud Ops</title><body style=\"font:16px system-ui;margin:3em\"><p>{}</p>",
        escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Text for an HTML page (an `error` anyone could put in the URL).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn takes_the_code_the_browser_brings() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let browser = tokio::spawn(async move {
            assert!(get(addr, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
            get(addr, "/callback?code=abc%2Bdef").await
        });
        assert_eq!(wait_for_code(&listener, Duration::from_secs(10)).await.unwrap(), "abc+def");
        assert!(browser.await.unwrap().contains("Signed in to Cloud Ops"));

        let browser = tokio::spawn(async move { get(addr, "/callback?error=%3Cscript%3E").await });
        let err = wait_for_code(&listener, Duration::from_secs(10)).await.unwrap_err();
        assert!(matches!(err, CliError::Message(m) if m.contains("<script>")));
        let page = browser.await.unwrap();
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"), "{page}");
    }
}
