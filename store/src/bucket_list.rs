//! The bucket list object: the names of the buckets a proxy loads at start, one per line,
//! stored in namespace [`METADATA_NAMESPACE`](crate::bucket::METADATA_NAMESPACE) under a
//! configured key. An original Backrunner reads the same object.

/// The bucket list object: bucket names separated by newlines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketList {
    names: Vec<String>,
}

impl BucketList {
    /// Parses the object: lines are trimmed, empty lines, non-UTF-8 lines and repeated names
    /// are skipped; order is kept.
    pub fn parse(bytes: &[u8]) -> BucketList {
        let mut list = BucketList::default();
        for line in bytes.split(|b| *b == b'\n') {
            if let Ok(name) = std::str::from_utf8(line) {
                list.insert(name);
            }
        }
        list
    }

    /// Renders the object: one name per line, each followed by `\n`.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for name in &self.names {
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Appends `name` (trimmed) unless it is empty or already listed; true when added.
    pub fn insert(&mut self, name: &str) -> bool {
        let name = name.trim();
        if name.is_empty() || self.contains(name) {
            return false;
        }
        self.names.push(name.to_owned());
        true
    }

    /// Removes `name`; true when it was listed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.names.len();
        self.names.retain(|n| n != name.trim());
        self.names.len() != before
    }

    /// True when `name` is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The names, in list order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_list_parse_and_render() {
        let list = BucketList::parse(b"  a \r\n\nb\n\xff\xfe\na\nc");
        assert_eq!(list.names(), ["a", "b", "c"]);
        assert_eq!(list.render(), b"a\nb\nc\n");
        assert_eq!(BucketList::parse(&list.render()), list);
        let mut list = list;
        assert!(!list.insert(" b "));
        assert!(list.insert("d"));
        assert!(list.remove("a"));
        assert!(!list.remove("a"));
        assert!(list.contains("d"));
        assert_eq!(list.render(), b"b\nc\nd\n");
        assert!(BucketList::parse(b"").names().is_empty());
    }
}
