//! The one error type of the e2e harness: every failure carries enough text (what was
//! awaited, the last state seen, log tails) to diagnose a run from its output alone.

/// An e2e harness or scenario failure.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Building the kube client configuration failed.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// An HTTP request (readiness probe, proxy call) failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// JSON (de)serialization failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML parsing failed.
    #[error("yaml: {0}")]
    Yaml(#[from] yaml_serde::Error),
    /// Certificate generation failed.
    #[error("certificates: {0}")]
    Cert(#[from] rcgen::Error),
    /// A condition was not met before its deadline.
    #[error("timed out after {secs} s waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline, in seconds.
        secs: u64,
        /// The last observed state.
        last: String,
    },
    /// A prerequisite is missing (binary, tool, file).
    #[error("missing prerequisite: {0}")]
    Missing(String),
    /// A process of the harness exited (its log tail included); waits stop at once.
    #[error("{0}")]
    Exited(String),
    /// A scenario check failed.
    #[error("{0}")]
    Check(String),
}

/// Result of the harness.
pub type Result<T, E = E2eError> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
    let what = what.into();
    move |source| E2eError::Io { what, source }
}

/// Fails the scenario with `message` unless `ok`.
pub fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(E2eError::Check(message()))
    }
}
