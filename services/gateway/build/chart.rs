//! Packages the runner's Helm chart (`helm/planton-runner`) as `helm package` would: a gzipped
//! tar with every file of the chart under a directory named after it. The gateway serves it
//! as a chart repository (`src/charts.rs`), so that `helm install --repo` needs no checkout.
//! The archive is the same bytes for the same chart (fixed times, owners and modes), so its
//! digest only changes with the chart.

use std::{io::Write as _, path::Path};

pub fn package(chart_dir: &Path, name: &str, out: &Path) {
    let mut files = Vec::new();
    super::walk(chart_dir, &mut files);
    files.sort();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for f in files {
        let rel = f.strip_prefix(chart_dir).expect("under the chart").to_string_lossy().replace('\\', "/");
        if rel.split('/').any(|part| part.starts_with('.')) {
            continue;
        }
        let body = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{name}/{rel}"), body.as_slice()).expect("tar entry");
    }
    let mut gz = tar.into_inner().expect("tar");
    gz.flush().expect("gzip");
    std::fs::write(out, gz.finish().expect("gzip")).expect("write the chart archive");
}
