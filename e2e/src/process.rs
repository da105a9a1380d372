//! Child processes of the harness: each runs in its own process group with stdout and stderr
//! in a log file, is SIGKILLed (whole group) when dropped, and can show the tail of its log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::error::{E2eError, Result, io};
use crate::wait::{Probe, wait_for};

/// A running child process with its log file.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args…` in a new process group, appending its output to
    /// `<log_dir>/<name>.log`.
    pub async fn spawn(
        name: &str,
        program: impl AsRef<Path>,
        args: &[String],
        envs: &[(&str, String)],
        log_dir: &Path,
    ) -> Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .await
            .map_err(io(format!("creating {}", log.display())))?
            .into_std()
            .await;
        let err_file = file
            .try_clone()
            .map_err(io(format!("duplicating {}", log.display())))?;
        let mut cmd = Command::new(program.as_ref());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file))
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(io(format!(
            "starting {name} ({})",
            program.as_ref().display()
        )))?;
        tracing::info!(name, pid = child.id(), "started");
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The process name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fails when the process has exited (with its log tail), for use inside wait loops.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(E2eError::Exited(format!(
                "{} exited with {status}; log tail:\n{}",
                self.name,
                tail_sync(&self.log, 40)
            ))),
            Err(e) => Err(E2eError::Io {
                what: format!("polling {}", self.name),
                source: e,
            }),
        }
    }

    /// Waits up to `limit` until `GET {base_url}{path}` answers a success status; fails at
    /// once when the process exits.
    pub async fn wait_http_ok(
        &mut self,
        base_url: &str,
        path: &str,
        limit: Duration,
    ) -> Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{base_url}{path}");
        let what = format!("{} {path}", self.name);
        wait_for(&what, limit, async || {
            self.check_running()?;
            let status = http.get(&url).send().await?.status();
            Ok(Probe::done_if(status.is_success(), || status.to_string()))
        })
        .await
    }

    /// SIGKILLs the whole process group and reaps the child.
    pub async fn kill(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait().await;
    }

    /// The last `lines` lines of the log.
    pub async fn tail(&self, lines: usize) -> String {
        match tokio::fs::read_to_string(&self.log).await {
            Ok(text) => last_lines(&text, lines),
            Err(e) => format!("(cannot read {}: {e})", self.log.display()),
        }
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal_group(Signal::SIGKILL);
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of a log file, read synchronously (used only on the error path, when
/// the process is already gone).
fn tail_sync(path: &Path, n: usize) -> String {
    std::fs::read_to_string(path)
        .map(|t| last_lines(&t, n))
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// A free TCP port on 127.0.0.1 for a child to bind (below the ephemeral range: see
/// `backrunner_tests::ports`).
pub fn free_port() -> Result<u16> {
    Ok(backrunner_tests::ports::free_port())
}
