//! Static files served for any GET the API does not claim: maps a URL path to a file
//! under the configured root and refuses every way out of it — `..` segments (also when
//! percent-encoded), encoded slashes, NUL bytes, and symlinks that point outside.

use std::path::{Component, Path, PathBuf};

use crate::signature::decode_path;

/// Why a static path is not served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StaticError {
    /// No such file (or a directory without `index.html`).
    #[error("no such file")]
    NotFound,
    /// The path tries to leave the root or is malformed.
    #[error("path not allowed")]
    Forbidden,
}

/// The directory static files come from.
#[derive(Debug, Clone)]
pub struct StaticRoot {
    root: PathBuf,
}

impl StaticRoot {
    /// Uses `root`, which must exist (it is canonicalised once here).
    pub fn new(root: &Path) -> std::io::Result<StaticRoot> {
        Ok(StaticRoot {
            root: std::fs::canonicalize(root)?,
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file to serve for the raw (still percent-encoded) URL path.
    pub async fn resolve(&self, raw_path: &str) -> Result<PathBuf, StaticError> {
        let relative = sanitize(raw_path)?;
        let mut candidate = self.root.join(&relative);
        let meta = tokio::fs::metadata(&candidate)
            .await
            .map_err(|_| StaticError::NotFound)?;
        if meta.is_dir() {
            candidate.push("index.html");
        }
        // Resolve symlinks and check the result is still inside the root.
        let real = tokio::fs::canonicalize(&candidate)
            .await
            .map_err(|_| StaticError::NotFound)?;
        if !real.starts_with(&self.root) {
            return Err(StaticError::Forbidden);
        }
        let meta = tokio::fs::metadata(&real)
            .await
            .map_err(|_| StaticError::NotFound)?;
        if !meta.is_file() {
            return Err(StaticError::NotFound);
        }
        Ok(real)
    }
}

/// Decodes the URL path and turns it into a relative path of plain segments.
fn sanitize(raw_path: &str) -> Result<PathBuf, StaticError> {
    // Encoded slashes would let one "segment" carry several; refuse them outright.
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(StaticError::Forbidden);
    }
    let decoded = decode_path(raw_path).map_err(|_| StaticError::Forbidden)?;
    let decoded = String::from_utf8(decoded).map_err(|_| StaticError::Forbidden)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(StaticError::Forbidden);
    }
    let mut out = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(p)), None) => out.push(p),
            _ => return Err(StaticError::Forbidden),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, StaticRoot) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("site/sub")).unwrap();
        std::fs::write(d.path().join("site/index.html"), b"home").unwrap();
        std::fs::write(d.path().join("site/sub/a b.txt"), b"a").unwrap();
        std::fs::write(d.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), d.path().join("site/out")).unwrap();
        std::os::unix::fs::symlink(d.path().join("site/sub"), d.path().join("site/in")).unwrap();
        let r = StaticRoot::new(&d.path().join("site")).unwrap();
        (d, r)
    }

    #[tokio::test]
    async fn serves_files_and_directory_indexes() {
        let (_d, r) = root();
        assert!(r.resolve("/").await.unwrap().ends_with("index.html"));
        assert!(
            r.resolve("/sub/a%20b.txt")
                .await
                .unwrap()
                .ends_with("a b.txt")
        );
        assert!(
            r.resolve("/in/a%20b.txt").await.is_ok(),
            "symlink inside the root"
        );
        assert_eq!(r.resolve("/missing").await, Err(StaticError::NotFound));
        assert_eq!(
            r.resolve("/sub").await,
            Err(StaticError::NotFound),
            "no index.html"
        );
    }

    #[tokio::test]
    async fn refuses_every_way_out() {
        let (_d, r) = root();
        for path in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/sub/..%2fsecret.txt",
            "/..%5csecret.txt",
            "/sub%2f..%2f..%2fsecret.txt",
            "/a%00b",
            "/%ff",
            "/out",
            "/./index.html",
        ] {
            assert_eq!(r.resolve(path).await, Err(StaticError::Forbidden), "{path}");
        }
    }
}
