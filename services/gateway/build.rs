//! Embeds the web console (`console/dist`, built by `npm --prefix console run build`) into the
//! gateway: one table of files with their content type, ETag and, for text, a gzip copy.
//! Without a build it embeds nothing and says so; the gateway then explains how to build it.
//! Also packages the runner's Helm chart for the gateway's chart repository (`build/chart.rs`).

#[path = "build/chart.rs"]
mod chart;

use std::{
    fmt::Write as _,
    io::Write as _,
    path::{Path, PathBuf},
};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    println!("cargo:rerun-if-changed={}", dir.display());
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=CLOUDOPS_CONSOLE_DIST");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let dist = std::env::var_os("CLOUDOPS_CONSOLE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../console/dist"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("out dir"));
    chart::package(&manifest.join("../../helm/planton-runner"), "planton-runner", &out_dir.join("planton-runner.tgz"));
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        walk(&dist, &mut files);
    } else {
        println!(
            "cargo:warning=the web console is not built ({} has no index.html): the gateway will serve a page saying how to build it (npm --prefix console ci && npm --prefix console run build)",
            dist.display()
        );
    }
    files.sort();
    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (i, f) in files.iter().enumerate() {
        let rel = f.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let body = std::fs::read(f).expect("read console asset");
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        let ct = content_type(f);
        let gzip = if ct.starts_with("text/") || ct == "image/svg+xml" || ct == "application/json" {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(&body).expect("gzip");
            let gz = out_dir.join(format!("console-{i}.gz"));
            std::fs::write(&gz, enc.finish().expect("gzip")).expect("write gzip");
            format!("Some(include_bytes!({:?}))", gz.display().to_string())
        } else {
            "None".into()
        };
        writeln!(
            table,
            "    Asset {{ path: {:?}, content_type: {ct:?}, etag: {etag:?}, body: include_bytes!({:?}), gzip: {gzip} }},",
            format!("/{rel}"),
            f.canonicalize().expect("canonical path").display().to_string(),
        )
        .expect("write");
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("console_assets.rs"), table).expect("write asset table");
}

/// A content hash for ETags (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}
