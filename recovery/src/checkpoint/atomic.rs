//! Files replaced atomically: written under a temporary name beside the target, fsynced,
//! renamed over it, and the directory fsynced — a reader (or a restarted run) sees the old
//! file or the new one, never a torn one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name; [`AtomicFile::commit`] puts it in place,
/// dropping it without a commit removes it.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates `<path>.tmp` (truncating a leftover one) and returns it for writing.
    pub fn create(path: &Path) -> io::Result<(AtomicFile, File)> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp)?;
        Ok((
            AtomicFile {
                path: path.to_path_buf(),
                tmp,
                committed: false,
            },
            file,
        ))
    }

    /// Renames the temporary file over the target and syncs the directory. The caller
    /// has written, flushed and synced the file.
    pub fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        sync_parent(&self.path)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (file, mut handle) = AtomicFile::create(path)?;
    handle.write_all(bytes)?;
    handle.sync_all()?;
    drop(handle);
    file.commit()
}

/// Fsyncs the directory holding `path`, so a rename or removal in it is durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_cleans_up_uncommitted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let (f, _h) = AtomicFile::create(&p).unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
