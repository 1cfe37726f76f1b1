//! `track_file NAME { }`: the files FILE_CHECK health checkers read, checked
//! as keepalived 2.2.7 does (trackers/track_file.c).

use super::ctx::Ctx;
use super::error::ConfigError;
use super::tree::Stmt;

/// `track_file NAME { file PATH }`, for FILE_CHECK.
#[derive(Debug, Clone)]
pub(super) struct TrackFile {
    pub(super) name: String,
    pub(super) path: String,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [V] [overwrite] }`
/// (Check mode), checked as trackers/track_file.c does: the file a FILE_CHECK
/// reads. Priority changes of instances tracking it are noted where tracked.
pub(super) fn track_file(cx: &mut Ctx, s: &Stmt) -> Result<Option<TrackFile>, ConfigError> {
    const C: &str = "track_file";
    cx.ignored_block(s, "configuration");
    let name = cx.one(s, C)?.to_string();
    let mut file: Option<String> = None;
    // keepalived's "weight already set" test is `weight != 1`.
    let mut weight = 1i64;
    for k in cx.block(s, C)? {
        cx.no_block(k, C)?;
        match k.keyword.as_str() {
            "file" => match (k.args.first(), &file) {
                (None, _) => cx.config_error(k, "track file file name missing"),
                (Some(f), Some(_)) => cx.config_error(
                    k,
                    format!("File already set for track file {name} - ignoring {f}"),
                ),
                (Some(f), None) => file = Some(f.clone()),
            },
            "weight" => {
                let Some(w) = k.args.first() else {
                    cx.config_error(
                        k,
                        format!("No weight specified for track file {name} - ignoring"),
                    );
                    continue;
                };
                if weight != 1 {
                    cx.config_error(
                        k,
                        format!("Weight already set for track file {name} - ignoring {w}"),
                    );
                    continue;
                }
                weight = match cx.int(k, C, w, -254, 254) {
                    Ok(v) => v,
                    Err(_) => {
                        cx.config_error(k, format!("Weight ({w}) for track_file {name} must be between [-254..254] inclusive. Ignoring..."));
                        1
                    }
                };
                if let Some(opt) = k.args.get(1).filter(|o| *o != "reverse") {
                    cx.config_error(k, format!("track_file {name} unknown weight option {opt}"));
                }
            }
            "init_file" => {
                for w in &k.args {
                    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                        match cx.int(k, C, w, i32::MIN as i64, i32::MAX as i64) {
                            Ok(v) if (-254..=254).contains(&v) => {}
                            _ => cx.config_error(
                                k,
                                format!("Track file {name} init value {w} is invalid or outside [-254, 254]"),
                            ),
                        }
                    } else if w != "overwrite" {
                        cx.config_error(k, format!("Unknown track file init option {w}"));
                    }
                }
            }
            _ => return Err(cx.unknown(k, C)),
        }
    }
    Ok(match file {
        Some(path) => Some(TrackFile { name, path }),
        None => {
            cx.config_error(s, format!("No file set for track_file {name} - ignoring"));
            None
        }
    })
}
