//! A `backrunner proxy` child process with a configuration written by the test, ready once
//! `/readyz` answers 200; killed when dropped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::{backrunner_command, wait_ready};

/// A running proxy process.
pub struct ProxyProcess {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// An HTTP client for it.
    pub http: reqwest::Client,
    child: tokio::process::Child,
}

impl ProxyProcess {
    /// Writes `config_toml` plus a `listen` line on a free port to `<dir>/proxy.toml`,
    /// starts `backrunner proxy -c` with it and waits (up to 60 s) until it is ready.
    pub async fn start(dir: &Path, config_toml: &str) -> ProxyProcess {
        Self::start_with_env(dir, config_toml, &[]).await
    }

    /// [`ProxyProcess::start`] with extra environment variables.
    pub async fn start_with_env(
        dir: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> ProxyProcess {
        let port = crate::ports::free_port();
        let path = dir.join("proxy.toml");
        std::fs::write(
            &path,
            format!("listen = \"127.0.0.1:{port}\"\n{config_toml}"),
        )
        .expect("write proxy.toml");
        let child = backrunner_command("proxy")
            .arg("--config")
            .arg(&path)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn backrunner proxy");
        let proxy = ProxyProcess {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("http client"),
            child,
        };
        assert!(
            wait_ready(&proxy.http, &proxy.base, Duration::from_secs(60)).await,
            "backrunner proxy did not become ready"
        );
        proxy
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with `headers` and `body`: the status and the whole reply body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> (u16, bytes::Bytes) {
        let mut request = self.http.request(method, self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = request.send().await.expect("request reaches the proxy");
        let status = reply.status().as_u16();
        (status, reply.bytes().await.expect("reply body"))
    }

    /// `GET path` with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, bytes::Bytes) {
        self.call(reqwest::Method::GET, path, headers, Vec::new())
            .await
    }

    /// `POST path` with `headers` and `body`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> (u16, bytes::Bytes) {
        self.call(reqwest::Method::POST, path, headers, body).await
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
