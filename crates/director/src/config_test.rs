//! `vipwire director -t`: what `keepalived -t` checks on the host beyond the
//! file itself (keepalived 2.2.7), on top of `lvs::keepalived`'s verdict:
//!
//! - interfaces: a `vrrp_instance` on a loopback interface (refused), or on
//!   an interface that does not exist
//!   ("WARNING - interface X for vrrp_instance Y doesn't exist", then
//!   "Non-existent interface specified in configuration"), and a
//!   `track_interface` that does not exist (vrrp_track.c, alloc_track_if);
//! - scripts (lib/notify.c, check_script_secure and check_security;
//!   vrrp.c, check_vrrp_script_security; check_data.c): the script user
//!   must exist (`script_user`, a script's own `user`, and with
//!   `enable_script_security` the default `keepalived_script`); a tracked
//!   script that cannot be found, or that is writable by non-root while
//!   script security is on, is a configuration error; and any script that
//!   would run while `enable_script_security` is off is keepalived's
//!   "SECURITY VIOLATION", exit code 6 (KEEPALIVED_CHK_EXIT_CONFIG_TEST_SECURITY).
//!
//! The host is behind [`Host`] so the rules are unit-tested without one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use lvs::keepalived::{ExternalScript, KeepalivedConfig, ScriptKind, ScriptScope};

use crate::vrrp::split_words;

/// keepalived's exit code for a script-security refusal under `-t`.
pub const EXIT_SECURITY: u8 = 6;
/// vipwire's exit code for any other configuration error.
pub const EXIT_CONFIG: u8 = 1;

/// What `-t` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Configuration errors: the file's (from the parser) and the host's.
    pub errors: Vec<String>,
    /// keepalived's SECURITY VIOLATION, if any.
    pub security: Option<String>,
}

impl Verdict {
    pub fn passes(&self) -> bool {
        self.errors.is_empty() && self.security.is_none()
    }

    /// 0, [`EXIT_SECURITY`] (which wins, as keepalived's worst error does),
    /// or [`EXIT_CONFIG`].
    pub fn exit_code(&self) -> u8 {
        if self.security.is_some() {
            EXIT_SECURITY
        } else if !self.errors.is_empty() {
            EXIT_CONFIG
        } else {
            0
        }
    }
}

/// One path component as lstat(2) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub is_dir: bool,
    pub is_file: bool,
    pub is_symlink: bool,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
}

/// What the checks ask the host.
pub trait Host {
    fn interface_exists(&self, name: &str) -> bool;
    /// IFF_LOOPBACK.
    fn is_loopback(&self, name: &str) -> bool;
    /// (uid, primary gid) of a user.
    fn user(&self, name: &str) -> Option<(u32, u32)>;
    fn group(&self, name: &str) -> Option<u32>;
    /// `name` searched in PATH (a bare command name).
    fn find_in_path(&self, name: &str) -> Option<PathBuf>;
    /// realpath(3).
    fn realpath(&self, p: &Path) -> Option<PathBuf>;
    /// lstat(2) (`follow`: stat(2)).
    fn stat(&self, p: &Path, follow: bool) -> Option<FileInfo>;
}

/// The machine this runs on.
pub struct LiveHost;

fn info(m: &std::fs::Metadata) -> FileInfo {
    let ft = m.file_type();
    FileInfo {
        is_dir: ft.is_dir(),
        is_file: ft.is_file(),
        is_symlink: ft.is_symlink(),
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode(),
        dev: m.dev(),
        ino: m.ino(),
    }
}

/// `name:x:id:...` lines of /etc/passwd or /etc/group.
fn db_lookup(file: &str, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').map(String::from).collect::<Vec<_>>())
        .find(|f| f.first().is_some_and(|n| n == name))
}

impl Host for LiveHost {
    fn interface_exists(&self, name: &str) -> bool {
        crate::sys::iface::ifindex(name).is_ok()
    }

    fn is_loopback(&self, name: &str) -> bool {
        crate::sys::iface::flags(name).is_ok_and(|f| f & libc::IFF_LOOPBACK != 0)
    }

    fn user(&self, name: &str) -> Option<(u32, u32)> {
        let f = db_lookup("/etc/passwd", name)?;
        Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
    }

    fn group(&self, name: &str) -> Option<u32> {
        db_lookup("/etc/group", name)?.get(2)?.parse().ok()
    }

    fn find_in_path(&self, name: &str) -> Option<PathBuf> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        path.split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
    }

    fn realpath(&self, p: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(p).ok()
    }

    fn stat(&self, p: &Path, follow: bool) -> Option<FileInfo> {
        let m = if follow {
            std::fs::metadata(p)
        } else {
            std::fs::symlink_metadata(p)
        };
        m.ok().map(|m| info(&m))
    }
}

/// Run every check of `keepalived -t` on this host.
pub fn config_test(cfg: &KeepalivedConfig) -> Verdict {
    config_test_on(cfg, &LiveHost)
}

/// [`config_test`] against any [`Host`].
pub fn config_test_on(cfg: &KeepalivedConfig, host: &dyn Host) -> Verdict {
    let mut v = Verdict {
        errors: cfg.config_errors.clone(),
        security: None,
    };
    let mut missing_if = false;
    for i in &cfg.vrrp_instances {
        if host.is_loopback(&i.interface) {
            v.errors.push(format!(
                "{}:{}: ({}) cannot use a loopback interface ({}) for vrrp - ignoring",
                i.source, i.line, i.name, i.interface
            ));
        } else if !host.interface_exists(&i.interface) {
            v.errors.push(format!(
                "{}:{}: WARNING - interface {} for vrrp_instance {} doesn't exist",
                i.source, i.line, i.interface, i.name
            ));
            missing_if = true;
        }
        for t in &i.track_interfaces {
            if !host.interface_exists(&t.name) {
                v.errors.push(format!(
                    "{}:{}: ({}) tracked interface {} doesn't exist",
                    i.source, t.line, i.name, t.name
                ));
                missing_if = true;
            }
        }
    }
    if missing_if {
        v.errors
            .push("Non-existent interface specified in configuration".into());
    }
    // keepalived's VRRP process stops at a missing interface, before its
    // script check (vrrp_daemon.c); the checker process checks only when
    // there are virtual servers.
    let sides = Sides {
        vrrp: !cfg.vrrp_instances.is_empty() && !missing_if,
        checker: !cfg.virtual_servers.is_empty() || !cfg.fwmark_services.is_empty(),
    };
    scripts(cfg, host, sides, &mut v);
    v
}

/// Which of keepalived's processes would check their scripts.
#[derive(Debug, Clone, Copy)]
struct Sides {
    vrrp: bool,
    checker: bool,
}

impl Sides {
    fn checks(&self, scope: ScriptScope) -> bool {
        match scope {
            ScriptScope::Vrrp => self.vrrp,
            ScriptScope::Checker => self.checker,
            ScriptScope::Both => self.vrrp || self.checker,
            ScriptScope::Always => true,
        }
    }
}

/// keepalived's flags for one script (lib/notify.h SC_*).
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    is_script: bool,
    not_found: bool,
    insecure: bool,
    inhibit: bool,
}

/// keepalived's default script user as it reads the file (lib/notify.c,
/// set_default_script_user / get_default_script_user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefaultUser {
    Unset,
    Set(u32, u32),
    /// Sticky: after one failure keepalived never tries again.
    Failed,
}

fn scripts(cfg: &KeepalivedConfig, host: &dyn Host, sides: Sides, v: &mut Verdict) {
    let sec = &cfg.script_security;
    // keepalived reads global_defs first (its parent process), then the
    // rest: the default user the other scripts get is the one global_defs
    // left, whatever their place in the file.
    let mut default = DefaultUser::Unset;
    let mut ids: Vec<Option<(u32, u32)>> = vec![None; sec.scripts.len()];
    let mut users = sec.script_users.iter().peekable();
    for (i, s) in sec.scripts.iter().enumerate().filter(|(_, s)| s.global) {
        while let Some(u) = users.next_if(|u| u.after_scripts <= i) {
            apply_script_user(host, &mut default, v, u);
        }
        let enabled = sec.enabled && sec.enabled_after_scripts <= i;
        ids[i] = script_ids(host, s, &mut default, enabled, v);
    }
    for u in users {
        apply_script_user(host, &mut default, v, u);
    }
    for (i, s) in sec.scripts.iter().enumerate().filter(|(_, s)| !s.global) {
        ids[i] = script_ids(host, s, &mut default, sec.enabled, v);
    }
    let mut any_script = false;
    let mut any_insecure = false;
    for (s, ids) in sec.scripts.iter().zip(ids) {
        // A script without a usable user is removed before the check.
        let Some(ids) = ids else { continue };
        if !sides.checks(s.scope) {
            continue;
        }
        let f = check_script(host, s, ids, sec.enabled);
        any_script |= f.is_script;
        any_insecure |= f.insecure;
        if let ScriptKind::Track(name) = &s.kind {
            if f.inhibit {
                v.errors
                    .push(format!("Disabling track script {name} due to insecure"));
            } else if f.not_found {
                v.errors.push(format!(
                    "Disabling track script {name} since not found/accessible"
                ));
            }
        }
    }
    if !sec.enabled && any_script {
        v.security = Some(format!(
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled.{}",
            if any_insecure {
                " There are insecure scripts."
            } else {
                ""
            }
        ));
    }
}

/// `script_user`: the new default, unless one already failed (sticky).
fn apply_script_user(
    host: &dyn Host,
    default: &mut DefaultUser,
    v: &mut Verdict,
    u: &lvs::keepalived::ScriptUser,
) {
    match resolve_user(host, &u.user, u.group.as_deref()) {
        Some((uid, gid)) if *default != DefaultUser::Failed => {
            *default = DefaultUser::Set(uid, gid)
        }
        Some(_) => {}
        None => {
            v.errors.push(format!(
                "line {}: Error setting global script uid/gid",
                u.line
            ));
            *default = DefaultUser::Failed;
        }
    }
}

/// The (uid, gid) a script runs as, None when keepalived removes it.
fn script_ids(
    host: &dyn Host,
    s: &ExternalScript,
    default: &mut DefaultUser,
    enabled: bool,
    v: &mut Verdict,
) -> Option<(u32, u32)> {
    if let Some((u, g)) = &s.user {
        let r = resolve_user(host, u, g.as_deref());
        // A tracked script's or checker's user is checked as it is read; a
        // notify script with an unknown user is dropped quietly.
        if r.is_none() && s.kind != ScriptKind::Notify {
            v.errors.push(format!(
                "{}:{}: Unable to set uid/gid for script '{}'",
                s.source, s.line, s.command
            ));
        }
        return r;
    }
    // Without script_user: keepalived_script when it exists (required with
    // script security), else keepalived's own user, root; looked up once.
    if *default == DefaultUser::Unset {
        *default = match host.user("keepalived_script") {
            Some((uid, gid)) => DefaultUser::Set(uid, gid),
            None if enabled => {
                v.errors
                    .push("Unable to set default user keepalived_script for script".into());
                DefaultUser::Failed
            }
            None => DefaultUser::Set(0, 0),
        };
    }
    match *default {
        DefaultUser::Set(uid, gid) => Some((uid, gid)),
        _ => None,
    }
}

/// (uid, gid) of `user` (and `group` when given).
fn resolve_user(host: &dyn Host, user: &str, group: Option<&str>) -> Option<(u32, u32)> {
    let (uid, gid) = host.user(user)?;
    match group {
        Some(g) => Some((uid, host.group(g)?)),
        None => Some((uid, gid)),
    }
}

/// check_script_secure for one script run as `ids`.
fn check_script(host: &dyn Host, s: &ExternalScript, ids: (u32, u32), enabled: bool) -> Flags {
    let words = split_words(&s.command);
    let Some(first) = words.first() else {
        return Flags::default();
    };
    // "</file": a check that the file is readable, nothing is executed.
    if let Some(rest) = first.strip_prefix('<') {
        if rest.trim_start_matches([' ', '\t']).starts_with('/') {
            return Flags::default();
        }
    }
    let not_found = Flags {
        not_found: true,
        ..Flags::default()
    };
    let given = if first.contains('/') {
        PathBuf::from(first)
    } else if ids != (0, 0) {
        // Measured: keepalived 2.2.7 -t does not find a bare command name
        // for a script that runs as another user ("not found/accessible").
        return not_found;
    } else {
        match host.find_in_path(first) {
            Some(p) => p,
            None => return not_found,
        }
    };
    let Some(real) = host.realpath(&given) else {
        return not_found;
    };
    // Keep the file name as written when it names the same file in the
    // resolved directory (some programs act on their name).
    let (path, real_file) = if real == given {
        (given.clone(), None)
    } else if real.file_name() != given.file_name() {
        let kept = real.with_file_name(given.file_name().unwrap_or_default());
        let same = match (host.stat(&real, true), host.stat(&kept, true)) {
            (Some(a), Some(b)) => a.dev == b.dev && a.ino == b.ino,
            _ => false,
        };
        if same {
            (kept, Some(real))
        } else {
            (real, None)
        }
    } else {
        (real, None)
    };
    let Some(file) = host.stat(real_file.as_deref().unwrap_or(&path), true) else {
        return not_found;
    };
    let mut f = Flags {
        is_script: true,
        ..Flags::default()
    };
    let (uid, gid) = ids;
    let setid_root = (file.uid == 0 && file.mode & 0o100 != 0 && file.mode & 0o4000 != 0)
        || (file.gid == 0 && file.mode & 0o010 != 0 && file.mode & 0o2000 != 0);
    if !executable(&file, uid, gid) || !(uid == 0 || gid == 0 || setid_root) {
        return f;
    }
    for p in std::iter::once(&path).chain(real_file.as_ref()) {
        let c = check_security(host, p, enabled);
        f.not_found |= c.not_found;
        f.insecure |= c.insecure;
        f.inhibit |= c.inhibit;
    }
    f
}

/// is_executable: the execute bit that applies to `uid`/`gid` (any for root).
fn executable(f: &FileInfo, uid: u32, gid: u32) -> bool {
    if uid == 0 {
        f.mode & 0o111 != 0
    } else if f.uid == uid {
        f.mode & 0o100 != 0
    } else if f.gid == gid {
        f.mode & 0o010 != 0
    } else {
        f.mode & 0o001 != 0
    }
}

/// check_security: every component from `/` down must be owned by root and
/// not writable by a non-root group or others (sticky directories aside).
fn check_security(host: &dyn Host, p: &Path, enabled: bool) -> Flags {
    let mut f = Flags::default();
    let comps: Vec<PathBuf> = p.ancestors().map(Path::to_path_buf).collect();
    let n = comps.len();
    for (i, c) in comps.iter().rev().enumerate() {
        let last = i + 1 == n;
        let Some(m) = host.stat(c, false) else {
            f.not_found = true;
            return f;
        };
        if (!last && !m.is_dir) || (last && !m.is_file && !m.is_symlink) {
            f.inhibit = true;
            return f;
        }
        let sticky_dir = m.is_dir && m.mode & 0o1000 != 0;
        let writable = (m.gid != 0 && m.mode & 0o020 != 0) || m.mode & 0o002 != 0;
        if m.uid != 0 || ((m.is_dir && !sticky_dir || m.is_file) && writable) {
            f.insecure = true;
            f.inhibit = enabled;
            return f;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A host with `eth0`, users root and nobody, and these files.
    struct Fake {
        files: HashMap<PathBuf, FileInfo>,
        users: Vec<(&'static str, u32, u32)>,
    }

    fn dir(mode: u32) -> FileInfo {
        FileInfo {
            is_dir: true,
            is_file: false,
            is_symlink: false,
            uid: 0,
            gid: 0,
            mode,
            dev: 1,
            ino: 0,
        }
    }

    fn file(mode: u32, ino: u64) -> FileInfo {
        FileInfo {
            is_dir: false,
            is_file: true,
            ino,
            ..dir(mode)
        }
    }

    impl Fake {
        fn new() -> Fake {
            let mut files = HashMap::new();
            files.insert(PathBuf::from("/"), dir(0o755));
            files.insert(PathBuf::from("/usr"), dir(0o755));
            files.insert(PathBuf::from("/usr/bin"), dir(0o755));
            files.insert(PathBuf::from("/usr/bin/true"), file(0o755, 1));
            files.insert(PathBuf::from("/tmp"), dir(0o1777));
            files.insert(PathBuf::from("/tmp/open.sh"), file(0o777, 2));
            files.insert(PathBuf::from("/tmp/noexec.sh"), file(0o644, 3));
            Fake {
                files,
                users: vec![("root", 0, 0), ("nobody", 65534, 65534)],
            }
        }
    }

    impl Host for Fake {
        fn interface_exists(&self, name: &str) -> bool {
            name == "eth0" || name == "lo"
        }
        fn is_loopback(&self, name: &str) -> bool {
            name == "lo"
        }
        fn user(&self, name: &str) -> Option<(u32, u32)> {
            self.users.iter().find(|u| u.0 == name).map(|u| (u.1, u.2))
        }
        fn group(&self, name: &str) -> Option<u32> {
            self.user(name).map(|u| u.1)
        }
        fn find_in_path(&self, name: &str) -> Option<PathBuf> {
            let p = Path::new("/usr/bin").join(name);
            self.files.contains_key(&p).then_some(p)
        }
        fn realpath(&self, p: &Path) -> Option<PathBuf> {
            let p = if p.starts_with("/bin") {
                Path::new("/usr").join(p.strip_prefix("/").ok()?)
            } else {
                p.to_path_buf()
            };
            self.files.contains_key(&p).then_some(p)
        }
        fn stat(&self, p: &Path, _follow: bool) -> Option<FileInfo> {
            self.files.get(p).copied()
        }
    }

    fn verdict(text: &str) -> Verdict {
        let cfg = lvs::keepalived::parse_str(text, "t.conf", None).expect("parses");
        config_test_on(&cfg, &Fake::new())
    }

    fn conf(globals: &str, script: &str, iface: &str) -> String {
        format!(
            "global_defs {{\n{globals}\n}}\nvrrp_script chk {{\n script \"{script}\"\n}}\n\
             vrrp_instance VI {{\n interface {iface}\n virtual_router_id 5\n priority 100\n \
             virtual_ipaddress {{ 192.0.2.9 }}\n track_script {{ chk }}\n}}\n"
        )
    }

    #[test]
    fn scripts_without_script_security_are_a_security_violation() {
        let v = verdict(&conf("router_id a", "/bin/true", "eth0"));
        assert!(v.errors.is_empty(), "{v:?}");
        assert!(v
            .security
            .as_deref()
            .unwrap()
            .starts_with("SECURITY VIOLATION"));
        assert_eq!(v.exit_code(), EXIT_SECURITY);
        // script_user alone does not help.
        let v = verdict(&conf("script_user root", "/bin/true", "eth0"));
        assert_eq!(v.exit_code(), EXIT_SECURITY);
        // A script that is not found is no script, but a config error.
        let v = verdict(&conf("router_id a", "/nonexistent/x", "eth0"));
        assert_eq!(v.security, None);
        assert!(v.errors[0].contains("since not found"), "{v:?}");
        assert_eq!(v.exit_code(), EXIT_CONFIG);
        // "</file" checks a file, it runs nothing.
        let v = verdict(&conf("router_id a", "</etc/hostname", "eth0"));
        assert!(v.passes(), "{v:?}");
    }

    #[test]
    fn script_security_needs_a_user_and_safe_files() {
        let ok = "enable_script_security\nscript_user root";
        assert!(verdict(&conf(ok, "/bin/true", "eth0")).passes());
        assert!(verdict(&conf(ok, "true", "eth0")).passes(), "PATH search");
        // No keepalived_script user on this host and no script_user.
        let v = verdict(&conf("enable_script_security", "/bin/true", "eth0"));
        assert!(v.errors[0].contains("keepalived_script"), "{v:?}");
        let v = verdict(&conf(
            "enable_script_security\nscript_user nosuch",
            "/bin/true",
            "eth0",
        ));
        assert!(v.errors[0].contains("script uid/gid"), "{v:?}");
        // World-writable script: disabled as insecure.
        let v = verdict(&conf(ok, "/tmp/open.sh", "eth0"));
        assert!(v.errors[0].contains("due to insecure"), "{v:?}");
        // Not executable: dropped quietly.
        assert!(verdict(&conf(ok, "/tmp/noexec.sh", "eth0")).passes());
        // Run as nobody, the path is not checked.
        let nobody = "enable_script_security\nscript_user nobody";
        assert!(verdict(&conf(nobody, "/tmp/open.sh", "eth0")).passes());
    }

    #[test]
    fn missing_interfaces_are_config_errors() {
        let ok = "enable_script_security\nscript_user root";
        let v = verdict(&conf(ok, "/bin/true", "eth9"));
        assert!(v.errors[0].contains("interface eth9 for vrrp_instance VI doesn't exist"));
        assert!(v
            .errors
            .iter()
            .any(|e| e.contains("Non-existent interface")));
        assert_eq!(v.exit_code(), EXIT_CONFIG);
        let text = conf(ok, "/bin/true", "eth0").replace(
            " track_script { chk }",
            " track_script { chk }\n track_interface {\n  eth0x weight 5\n }",
        );
        let v = verdict(&text);
        assert!(
            v.errors[0].contains("tracked interface eth0x doesn't exist"),
            "{v:?}"
        );
    }

    #[test]
    fn one_failed_script_user_fails_the_default_for_good() {
        let g = "enable_script_security\nscript_user root vw-no-group\nscript_user root";
        let v = verdict(&conf(g, "/bin/true", "eth0"));
        assert_eq!(v.errors.len(), 1, "{v:?}");
        assert!(v.errors[0].contains("script uid/gid"));
        // The script is dropped with its user: no SECURITY VIOLATION either.
        let g = "script_user vw-nobody-here";
        let v = verdict(&conf(g, "/bin/true", "eth0"));
        assert_eq!((v.exit_code(), v.security.is_none()), (EXIT_CONFIG, true));
    }

    #[test]
    fn a_script_read_before_a_failing_script_user_keeps_root() {
        let text = "global_defs {\n notify_fifo_script /bin/true\n script_user vw-no-user\n}\n";
        let text = format!("{text}{}", conf("router_id a", "/bin/true", "eth0"));
        let v = verdict(&text);
        // The fifo script was read as root: still a SECURITY VIOLATION.
        assert_eq!(v.exit_code(), EXIT_SECURITY, "{v:?}");
        assert!(v.errors.iter().any(|e| e.contains("script uid/gid")));
    }

    #[test]
    fn a_script_read_before_enable_script_security_defaults_to_root() {
        let text = "global_defs {\n notify_fifo_script /bin/true\n enable_script_security\n                     script_user root\n}\n";
        let text = format!("{text}{}", conf("router_id a", "/bin/true", "eth0"));
        assert!(verdict(&text).passes());
        // Once set (here to root), the default user is not looked up again.
        let text = text.replace(" script_user root\n", "");
        assert!(verdict(&text).passes());
    }

    #[test]
    fn global_defs_are_read_first() {
        // The vrrp_script comes first in the file but runs as nobody, and
        // keepalived -t does not find a bare command for another user.
        let text =
            "vrrp_script chk {\n script \"true\"\n}\nglobal_defs {\n script_user nobody\n}\n\
                    vrrp_instance VI {\n interface eth0\n virtual_router_id 5\n priority 100\n \
                    virtual_ipaddress { 192.0.2.9 }\n track_script { chk }\n}\n";
        let v = verdict(text);
        assert!(v.errors[0].contains("since not found"), "{v:?}");
        assert_eq!(v.security, None);
    }

    #[test]
    fn loopback_is_refused_for_vrrp() {
        let ok = "enable_script_security\nscript_user root";
        let v = verdict(&conf(ok, "/bin/true", "lo"));
        assert!(
            v.errors[0].contains("cannot use a loopback interface"),
            "{v:?}"
        );
    }

    #[test]
    fn a_missing_interface_stops_the_vrrp_script_check() {
        let v = verdict(&conf("router_id a", "/bin/true", "eth9"));
        assert_eq!(v.security, None, "{v:?}");
        assert_eq!(v.exit_code(), EXIT_CONFIG);
        // No vrrp_instance at all: vrrp_script is not checked.
        let text = "vrrp_script chk {\n script \"/nonexistent/x\"\n}\n";
        assert!(verdict(text).passes());
    }

    #[test]
    fn notify_scripts_count_but_are_never_errors() {
        let text = "vrrp_instance VI {\n interface eth0\n virtual_router_id 5\n priority 100\n \
                    notify_master \"/nonexistent/y\"\n virtual_ipaddress { 192.0.2.9 }\n}\n";
        assert!(verdict(text).passes());
        let v = verdict(&text.replace("/nonexistent/y", "/bin/true"));
        assert_eq!(v.exit_code(), EXIT_SECURITY);
        // An unknown user drops a notify script quietly.
        let v = verdict(&text.replace("\"/nonexistent/y\"", "/bin/true vw-no-user"));
        assert!(v.passes(), "{v:?}");
    }
}
