//! A tcpdump on a namespace's eth0 whose lines go to a file: the lab proofs'
//! evidence of what really crossed a link (adverts, ARP, IPIP).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::{Netns, Proc};
use crate::topo;

/// A running tcpdump (`-nn -e -l`), stopped by its PID.
pub struct Capture {
    proc: Proc,
    out: PathBuf,
}

impl Capture {
    /// Starts `tcpdump -i eth0 FILTER` in `ns`, writing `DIR/NAME.txt`, and
    /// waits until it listens.
    pub fn start(ns: &Netns, dir: &Path, name: &str, filter: &str) -> Result<Capture> {
        let out = dir.join(format!("{name}.txt"));
        let err = dir.join(format!("{name}.log"));
        let mut c = ns.command("tcpdump");
        c.args(["-i", "eth0", "-nn", "-e", "-l", "--immediate-mode", filter])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?);
        let proc = Proc::spawn(c)?;
        topo::wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(&err)
                .ok()
                .filter(|s| s.contains("listening on"))
        })
        .with_context(|| format!("tcpdump {name} did not start"))?;
        Ok(Capture { proc, out })
    }

    /// Stops it (by its PID) and returns what it printed.
    pub fn finish(mut self) -> Result<String> {
        std::thread::sleep(Duration::from_millis(300));
        self.proc.kill();
        Ok(std::fs::read_to_string(&self.out)?)
    }
}
