//! `Content-Type` of stored objects from the key's extension.
//!
//! The extension is what follows the last `.` of the last `/`-separated segment of the key,
//! compared case-insensitively; a segment whose only dot is its first character (`.profile`)
//! has no extension. Unknown or missing extensions get the default type,
//! `application/octet-stream` unless configured otherwise.

use std::collections::HashMap;

/// Type of objects whose extension is unknown.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Built-in table: extension (lower case) → MIME type.
const BUILTIN: &[(&str, &str)] = &[
    // video
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("mov", "video/quicktime"),
    ("webm", "video/webm"),
    ("mkv", "video/x-matroska"),
    ("avi", "video/x-msvideo"),
    ("ts", "video/mp2t"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("mpd", "application/dash+xml"),
    ("ogv", "video/ogg"),
    ("3gp", "video/3gpp"),
    // audio
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("aac", "audio/aac"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("opus", "audio/opus"),
    ("flac", "audio/flac"),
    ("wav", "audio/wav"),
    // images
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("svg", "image/svg+xml"),
    ("ico", "image/x-icon"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    // text and web
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("txt", "text/plain; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("srt", "application/x-subrip"),
    ("wasm", "application/wasm"),
    // fonts
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    // documents and archives
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
    ("zst", "application/zstd"),
    ("7z", "application/x-7z-compressed"),
    ("rar", "application/vnd.rar"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("bin", "application/octet-stream"),
];

/// Extension → MIME type map: the built-in table plus configured overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentTypes {
    by_extension: HashMap<String, String>,
    default: String,
}

impl Default for ContentTypes {
    fn default() -> Self {
        ContentTypes {
            by_extension: BUILTIN
                .iter()
                .map(|(e, t)| ((*e).to_owned(), (*t).to_owned()))
                .collect(),
            default: DEFAULT_CONTENT_TYPE.to_owned(),
        }
    }
}

impl ContentTypes {
    /// The built-in table with `overrides` applied (keys: extensions with or without the
    /// leading dot, any case; values: MIME types). An empty value removes the extension.
    pub fn with_overrides(overrides: &HashMap<String, String>) -> Self {
        let mut types = ContentTypes::default();
        for (extension, mime) in overrides {
            let extension = extension
                .trim()
                .trim_start_matches('.')
                .to_ascii_lowercase();
            if mime.trim().is_empty() {
                types.by_extension.remove(&extension);
            } else {
                types.by_extension.insert(extension, mime.trim().to_owned());
            }
        }
        types
    }

    /// Replaces the type of unknown extensions.
    pub fn with_default(mut self, default: impl Into<String>) -> Self {
        self.default = default.into();
        self
    }

    /// The type of `key` (an object key or URL path).
    pub fn for_key(&self, key: &str) -> &str {
        extension(key)
            .and_then(|ext| self.by_extension.get(&ext.to_ascii_lowercase()))
            .unwrap_or(&self.default)
    }
}

/// The extension of the last path segment of `key`, if any.
pub fn extension(key: &str) -> Option<&str> {
    let segment = key.rsplit('/').next().unwrap_or(key);
    match segment.rfind('.') {
        Some(0) | None => None,
        Some(dot) => Some(&segment[dot + 1..]).filter(|ext| !ext.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table() {
        let types = ContentTypes::default();
        assert_eq!(types.for_key("videos/cat.mp4"), "video/mp4");
        assert_eq!(
            types.for_key("a/b/c/playlist.M3U8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(types.for_key("seg-001.ts"), "video/mp2t");
        assert_eq!(types.for_key("photo.JPG"), "image/jpeg");
        assert_eq!(types.for_key("index.html"), "text/html; charset=utf-8");
        assert_eq!(types.for_key("archive.tar.gz"), "application/gzip");
        for ext in [
            "webm", "mkv", "mp3", "ogg", "png", "gif", "webp", "svg", "css", "js", "json", "txt",
            "pdf", "zip",
        ] {
            assert_ne!(
                types.for_key(&format!("x.{ext}")),
                DEFAULT_CONTENT_TYPE,
                "{ext}"
            );
        }
    }

    #[test]
    fn unknown_and_missing_extensions_get_default() {
        let types = ContentTypes::default();
        for key in [
            "noext",
            "dir.mp4/file",
            ".profile",
            "trailing.",
            "a.unknownext",
            "",
        ] {
            assert_eq!(types.for_key(key), DEFAULT_CONTENT_TYPE, "{key}");
        }
        assert_eq!(
            types.clone().with_default("text/plain").for_key("x"),
            "text/plain"
        );
    }

    #[test]
    fn overrides_replace_add_and_remove() {
        let overrides: HashMap<String, String> = [
            (".MP4".to_owned(), "video/x-custom".to_owned()),
            ("heic".to_owned(), "image/heic".to_owned()),
            ("pdf".to_owned(), String::new()),
        ]
        .into_iter()
        .collect();
        let types = ContentTypes::with_overrides(&overrides);
        assert_eq!(types.for_key("a.mp4"), "video/x-custom");
        assert_eq!(types.for_key("a.HEIC"), "image/heic");
        assert_eq!(types.for_key("a.pdf"), DEFAULT_CONTENT_TYPE);
        assert_eq!(types.for_key("a.png"), "image/png");
    }

    #[test]
    fn extension_of_last_segment() {
        assert_eq!(extension("a.b/c.d"), Some("d"));
        assert_eq!(extension("a.b/c"), None);
        assert_eq!(extension("ключ.тхт"), Some("тхт"));
    }
}
