//! Parse every keepalived sample shipped by the Debian package: no panics, and
//! every rejection names the keyword it is about.

use std::path::Path;
use std::process::Command;

mod common;
use common::{sample_files, SAMPLES};

fn read_sample(p: &Path) -> Option<String> {
    if p.extension().is_some_and(|e| e == "gz") {
        let out = Command::new("gzip").arg("-dc").arg(p).output().ok()?;
        return String::from_utf8(out.stdout).ok();
    }
    std::fs::read_to_string(p).ok()
}

#[test]
fn debian_samples() {
    let Some(files) = sample_files(Path::new(SAMPLES)) else {
        eprintln!("SKIPPED: {SAMPLES} not found (apt-get install keepalived)");
        return;
    };
    assert!(!files.is_empty(), "no samples in {SAMPLES}");
    let (mut accepted, mut rejected, mut panics) = (0, 0, Vec::new());
    let mut unnamed = Vec::new();
    for f in &files {
        let Some(text) = read_sample(f) else { continue };
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let dir = f.parent().map(Path::to_path_buf);
        let r =
            std::panic::catch_unwind(|| lvs::keepalived::parse_str(&text, &name, dir.as_deref()));
        match r {
            Err(_) => panics.push(name),
            Ok(Ok(c)) => {
                accepted += 1;
                eprintln!(
                    "ACCEPT {name}: {} warnings, {} keepalived config errors",
                    c.warnings.len(),
                    c.config_errors.len()
                );
            }
            Ok(Err(e)) => {
                rejected += 1;
                eprintln!("REJECT {e}");
                if e.keyword().is_none() {
                    unnamed.push(e.to_string());
                }
            }
        }
    }
    eprintln!(
        "samples: {} files, {accepted} accepted, {rejected} rejected, {} panics",
        files.len(),
        panics.len()
    );
    assert!(panics.is_empty(), "panicked on {panics:?}");
    assert!(
        unnamed.is_empty(),
        "rejections without a keyword: {unnamed:?}"
    );
}
