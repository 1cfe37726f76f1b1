//! Helpers shared by the keepalived sample tests.

use std::path::{Path, PathBuf};

/// Where Debian's keepalived package puts its sample configurations.
pub const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// The `keepalived.conf*` files in `dir`, sorted; None when `dir` cannot be read.
pub fn sample_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf"))
        })
        .collect();
    files.sort();
    Some(files)
}
