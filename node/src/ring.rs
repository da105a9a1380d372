//! Ring ids of a backend: read from `<dir>/ids` (the raw concatenation of 64-byte ids, as
//! the C server stores them), or generated at random and persisted there on first start
//! (write to a temporary file, fsync, rename, fsync the directory).

use std::fs;
use std::io::Write;
use std::path::Path;

use elliptics::proto::{ID_SIZE, Id};
use rand::RngCore;

/// Name of the ring-id file inside a backend directory.
pub const IDS_FILE: &str = "ids";

/// Loads the ring ids stored in `dir`, or generates and persists `count` new ones.
/// `explicit` ids from the configuration win and are persisted when they differ.
pub fn load_or_create(dir: &Path, explicit: &[Id], count: usize) -> std::io::Result<Vec<Id>> {
    fs::create_dir_all(dir)?;
    let path = dir.join(IDS_FILE);
    let stored = match fs::read(&path) {
        Ok(bytes) => Some(parse(&bytes).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: size {} is not a positive multiple of {ID_SIZE}",
                    path.display(),
                    bytes.len()
                ),
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let ids = match (explicit.is_empty(), stored) {
        (false, Some(s)) if s == explicit => return Ok(s),
        (false, _) => explicit.to_vec(),
        (true, Some(s)) => return Ok(s),
        (true, None) => {
            let mut rng = rand::thread_rng();
            (0..count.max(1))
                .map(|_| {
                    let mut id = [0u8; ID_SIZE];
                    rng.fill_bytes(&mut id);
                    Id(id)
                })
                .collect()
        }
    };
    persist(dir, &ids)?;
    Ok(ids)
}

fn parse(bytes: &[u8]) -> Option<Vec<Id>> {
    if bytes.is_empty() || bytes.len() % ID_SIZE != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(ID_SIZE)
            .map(|c| {
                let mut id = [0u8; ID_SIZE];
                id.copy_from_slice(c);
                Id(id)
            })
            .collect(),
    )
}

fn persist(dir: &Path, ids: &[Id]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{IDS_FILE}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        for id in ids {
            f.write_all(&id.0)?;
        }
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(IDS_FILE))?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_persist() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create(d.path(), &[], 3).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(load_or_create(d.path(), &[], 5).unwrap(), a);
        let explicit = [Id([7; 64])];
        assert_eq!(load_or_create(d.path(), &explicit, 1).unwrap(), explicit);
        assert_eq!(load_or_create(d.path(), &[], 1).unwrap(), explicit);
        fs::write(d.path().join(IDS_FILE), b"short").unwrap();
        assert!(load_or_create(d.path(), &[], 1).is_err());
    }
}
