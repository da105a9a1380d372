//! ListObjects V2 and V1 from the bucket's key index (`BucketIndex::list`, the same pages
//! as `GET /list/{bucket}`): keys in byte order, `max-keys` default and cap 1000 (keys
//! plus common prefixes), an empty delimiter means none, `start-after` exclusive,
//! continuation tokens opaque and valid across index compactions, `encoding-type=url`
//! percent-encodes keys, prefixes and markers (keys that are not UTF-8 need it).
//!
//! V1's `marker` is a key to list after; a marker that is a common prefix of this listing
//! (it ends at the first delimiter after the prefix, as the `NextMarker` of a truncated
//! page with a delimiter does) resumes after every key under that prefix, so the prefix is
//! not listed twice. `NextMarker` is the last key or common prefix of a truncated page.

use backrunner_proxy::handlers::list::{entry_etag, key_text};
use backrunner_store::bucket::BucketMetadata;
use backrunner_store::index::{BucketIndex, ListPage, ListRequest, token_after_prefix};
use elliptics::Session;
use s3s::dto::{
    CommonPrefix, EncodingType, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, ObjectStorageClass, Timestamp,
};

use crate::error::FrontError;
use crate::etag;

/// What both versions share: the request for the index and the reply encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The index request.
    pub request: ListRequest,
    /// `encoding-type=url`.
    pub url_encoded: bool,
}

impl Listing {
    /// Validates the parameters common to V1 and V2.
    pub fn new(
        prefix: Option<&str>,
        delimiter: Option<&str>,
        max_keys: Option<i32>,
        encoding_type: Option<&EncodingType>,
    ) -> Result<Listing, FrontError> {
        let max_keys = match max_keys {
            None => None,
            Some(n) => Some(usize::try_from(n).map_err(|_| {
                FrontError::InvalidArgument(format!("max-keys must not be negative: {n}"))
            })?),
        };
        let url_encoded = match encoding_type.map(EncodingType::as_str) {
            None => false,
            Some(EncodingType::URL) => true,
            Some(other) => {
                return Err(FrontError::InvalidArgument(format!(
                    "encoding-type must be url, not '{other}'"
                )));
            }
        };
        Ok(Listing {
            request: ListRequest {
                prefix: prefix.unwrap_or_default().as_bytes().to_vec(),
                delimiter: delimiter.unwrap_or_default().as_bytes().to_vec(),
                start_after: None,
                continuation_token: None,
                max_keys,
            },
            url_encoded,
        })
    }

    /// Key bytes as reply text.
    pub fn text(&self, bytes: &[u8]) -> String {
        key_text(bytes, self.url_encoded)
    }

    /// Applies V1's `marker` (module docs).
    pub fn with_marker(mut self, marker: Option<&str>) -> Listing {
        let Some(marker) = marker.filter(|m| !m.is_empty()) else {
            return self;
        };
        let marker = marker.as_bytes();
        let delimiter = &self.request.delimiter;
        let is_common_prefix = !delimiter.is_empty()
            && marker.starts_with(&self.request.prefix)
            && first_delimiter_end(&marker[self.request.prefix.len()..], delimiter)
                == Some(marker.len() - self.request.prefix.len());
        if is_common_prefix {
            self.request.continuation_token = Some(token_after_prefix(marker));
        } else {
            self.request.start_after = Some(marker.to_vec());
        }
        self
    }

    /// Lists one page.
    pub async fn page(&self, index: &BucketIndex) -> Result<ListPage, FrontError> {
        index.list(&self.request).await.map_err(|e| {
            let reply = backrunner_proxy::ApiError::from_index(&e);
            if reply.status().is_server_error() {
                tracing::warn!(error = %e, "S3 listing failed");
            }
            FrontError::from(reply)
        })
    }

    /// The page's objects and common prefixes as S3 lists them.
    pub fn contents(&self, session: &Session, page: &ListPage) -> (Vec<Object>, Vec<CommonPrefix>) {
        let objects = page
            .entries
            .iter()
            .map(|e| Object {
                key: Some(self.text(&e.key)),
                size: Some(i64::try_from(e.size).unwrap_or(i64::MAX)),
                last_modified: Some(Timestamp::from(e.stamp.to_system_time())),
                e_tag: Some(etag::to_dto(&entry_etag(&session.id(&e.key), e))),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Object::default()
            })
            .collect();
        let prefixes = page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(self.text(p)),
            })
            .collect();
        (objects, prefixes)
    }

    fn echo(&self, bytes: &[u8]) -> Option<String> {
        Some(self.text(bytes))
    }

    fn delimiter_echo(&self) -> Option<String> {
        (!self.request.delimiter.is_empty()).then(|| self.text(&self.request.delimiter))
    }

    fn encoding_echo(&self) -> Option<EncodingType> {
        self.url_encoded
            .then(|| EncodingType::from_static(EncodingType::URL))
    }
}

/// Where the first `delimiter` in `rest` ends, if any.
fn first_delimiter_end(rest: &[u8], delimiter: &[u8]) -> Option<usize> {
    rest.windows(delimiter.len())
        .position(|w| w == delimiter)
        .map(|at| at + delimiter.len())
}

/// The bucket's key index, or 501 when this proxy runs without one.
pub fn index_of(
    state: &backrunner_proxy::AppState,
    bucket: &BucketMetadata,
) -> Result<BucketIndex, FrontError> {
    state.indexes.of(bucket).ok_or_else(|| {
        FrontError::NotImplemented(
            "listing is switched off on this proxy (key_index = false)".into(),
        )
    })
}

/// ListObjectsV2.
pub async fn list_v2(
    index: &BucketIndex,
    session: &Session,
    input: &ListObjectsV2Input,
) -> Result<ListObjectsV2Output, FrontError> {
    let mut listing = Listing::new(
        input.prefix.as_deref(),
        input.delimiter.as_deref(),
        input.max_keys,
        input.encoding_type.as_ref(),
    )?;
    listing.request.start_after = input
        .start_after
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec());
    listing.request.continuation_token = input.continuation_token.clone();
    let page = listing.page(index).await?;
    let (contents, prefixes) = listing.contents(session, &page);
    let key_count = contents.len() + prefixes.len();
    Ok(ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: listing.echo(&listing.request.prefix),
        delimiter: listing.delimiter_echo(),
        max_keys: Some(i32::try_from(listing.request.max_keys()).unwrap_or(i32::MAX)),
        key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: page.next_continuation_token.clone(),
        is_truncated: Some(page.is_truncated),
        start_after: input
            .start_after
            .as_deref()
            .map(|s| listing.text(s.as_bytes())),
        encoding_type: listing.encoding_echo(),
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..ListObjectsV2Output::default()
    })
}

/// ListObjects (V1).
pub async fn list_v1(
    index: &BucketIndex,
    session: &Session,
    input: &ListObjectsInput,
) -> Result<ListObjectsOutput, FrontError> {
    let listing = Listing::new(
        input.prefix.as_deref(),
        input.delimiter.as_deref(),
        input.max_keys,
        input.encoding_type.as_ref(),
    )?
    .with_marker(input.marker.as_deref());
    let page = listing.page(index).await?;
    let next_marker = match page.is_truncated {
        false => None,
        true => {
            let last_key = page.entries.last().map(|e| e.key.as_slice());
            let last_prefix = page.common_prefixes.last().map(Vec::as_slice);
            last_key.max(last_prefix).map(|m| listing.text(m))
        }
    };
    let (contents, prefixes) = listing.contents(session, &page);
    Ok(ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: listing.echo(&listing.request.prefix),
        delimiter: listing.delimiter_echo(),
        marker: Some(
            input
                .marker
                .as_deref()
                .map(|m| listing.text(m.as_bytes()))
                .unwrap_or_default(),
        ),
        max_keys: Some(i32::try_from(listing.request.max_keys()).unwrap_or(i32::MAX)),
        is_truncated: Some(page.is_truncated),
        next_marker,
        encoding_type: listing.encoding_echo(),
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..ListObjectsOutput::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_markers() {
        let l = Listing::new(Some("a/"), Some(""), Some(5), None).ok();
        let l = l
            .as_ref()
            .map(|l| (&l.request.delimiter, l.request.max_keys));
        assert_eq!(
            l,
            Some((&Vec::new(), Some(5))),
            "an empty delimiter is none"
        );
        assert!(Listing::new(None, None, Some(-1), None).is_err());
        let xml = EncodingType::from("xml".to_owned());
        assert!(Listing::new(None, None, None, Some(&xml)).is_err());
        let url = EncodingType::from_static(EncodingType::URL);
        assert!(
            Listing::new(None, None, None, Some(&url))
                .is_ok_and(|l| l.url_encoded && l.text(b"a b+c") == "a%20b%2Bc")
        );

        let base = || Listing::new(Some("p/"), Some("/"), None, None);
        let prefix_marker = base().map(|l| l.with_marker(Some("p/d/")));
        assert_eq!(
            prefix_marker.map(|l| (l.request.start_after, l.request.continuation_token)),
            Ok((None, Some(token_after_prefix(b"p/d/"))))
        );
        let key_marker = base().map(|l| l.with_marker(Some("p/d/e")));
        assert_eq!(
            key_marker.map(|l| (l.request.start_after, l.request.continuation_token)),
            Ok((Some(b"p/d/e".to_vec()), None))
        );
        let no_delimiter = Listing::new(None, None, None, None).map(|l| l.with_marker(Some("d/")));
        assert_eq!(
            no_delimiter.map(|l| l.request.start_after),
            Ok(Some(b"d/".to_vec()))
        );
    }
}
