//! Request signatures: the canonical request string, its HMAC-SHA512 and the `Authorization`
//! header (DESIGN contract 4, protocol reference §14.2).
//!
//! The rules reproduce Go Backrunner's `auth.GenerateSignature` over a `net/http` request
//! byte for byte, because existing clients sign that way:
//!
//! 1. the method, then `\n`;
//! 2. the **decoded** URL path (Go's `req.URL.Path`): `%XX` escapes decoded (`%2F` too), `+`
//!    kept as is; an invalid escape makes the request invalid (Go's server answers 400);
//! 3. when the parsed query has at least one key: `?`, then the pairs `key=value` sorted by
//!    key, `&`-joined, each re-escaped as Go's `url.QueryEscape` does (space → `+`, bytes other
//!    than `A-Za-z0-9-_.~` → `%XX` upper case). Parsing follows Go's `url.ParseQuery`: split on
//!    `&`, skip empty segments and segments containing `;`, split at the first `=`, unescape
//!    with `+` → space, skip pairs with an invalid escape. Only the first value of a repeated
//!    key counts, and keys whose first value is empty are dropped, yet `?` is still written
//!    when every value was empty (`?flag` signs as `/path?`). A URL without a query (or with
//!    only `&`) has no `?`;
//! 4. `\n`;
//! 5. every header whose lower-cased name starts with `x-ell-`, sorted by lower-cased name, as
//!    `name:value\n`, first value of a repeated header only, value trimmed of surrounding
//!    spaces and tabs (Go's header parser trims them).
//!
//! The HMAC is keyed by the user's token and sent as lower-case hex; verification accepts
//! either case and compares the decoded bytes in constant time.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::Sha512;
use subtle::ConstantTimeEq;

use crate::query::{self, Query};

/// Prefix (lower case) of the headers covered by the signature.
pub const SIGNED_HEADER_PREFIX: &str = "x-ell-";

/// Scheme word clients conventionally send (any single word is accepted).
pub const DEFAULT_AUTH_SCHEME: &str = "riftv1";

/// User of requests without (usable) credentials.
pub const ANONYMOUS_USER: &str = "*";

/// Why a request cannot be put in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The path has a `%` not followed by two hex digits.
    #[error("invalid percent-escape in URL path")]
    InvalidPathEscape,
}

/// The exact bytes a request signature covers (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalRequest {
    text: Vec<u8>,
}

impl CanonicalRequest {
    /// Builds the canonical form from parts: `decoded_path` is the percent-decoded path,
    /// `raw_query` the query as sent (without `?`), `headers` every header (name, value).
    pub fn new<'h>(
        method: &str,
        decoded_path: &[u8],
        raw_query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> CanonicalRequest {
        CanonicalRequest::from_parsed(method, decoded_path, &Query::parse(raw_query), headers)
    }

    /// Builds the canonical form from a request already parsed: `decoded_path` is the
    /// percent-decoded path, `query` the parsed query, `headers` every header.
    pub fn from_parsed<'h>(
        method: &str,
        decoded_path: &[u8],
        query: &Query,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) -> CanonicalRequest {
        let mut text = Vec::with_capacity(method.len() + decoded_path.len() + 64);
        text.extend_from_slice(method.as_bytes());
        text.push(b'\n');
        text.extend_from_slice(decoded_path);
        if let Some(query) = query.canonical() {
            text.push(b'?');
            text.extend_from_slice(query.as_bytes());
        }
        text.push(b'\n');
        let mut signed: BTreeMap<String, &[u8]> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if name.starts_with(SIGNED_HEADER_PREFIX) {
                signed.entry(name).or_insert(value);
            }
        }
        for (name, value) in signed {
            text.extend_from_slice(name.as_bytes());
            text.push(b':');
            text.extend_from_slice(value.trim_ascii_start().trim_ascii_end());
            text.push(b'\n');
        }
        CanonicalRequest { text }
    }

    /// Builds the canonical form of an HTTP request.
    pub fn from_request(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<CanonicalRequest, SignatureError> {
        let path = decode_path(uri.path())?;
        let headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        Ok(CanonicalRequest::new(
            method.as_str(),
            &path,
            uri.query(),
            headers,
        ))
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// HMAC-SHA512 of the canonical bytes keyed by `token`.
    pub fn mac(&self, token: &str) -> [u8; 64] {
        let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(token.as_bytes()) else {
            unreachable!("HMAC takes keys of any length");
        };
        mac.update(&self.text);
        mac.finalize().into_bytes().into()
    }

    /// Lower-case hex signature for `token`.
    pub fn sign(&self, token: &str) -> String {
        hex::encode(self.mac(token))
    }

    /// True when `presented_hex` (either case) is the signature for `token`; constant time
    /// in the signature bytes.
    pub fn verify(&self, token: &str, presented_hex: &str) -> bool {
        let Ok(presented) = hex::decode(presented_hex) else {
            return false;
        };
        bool::from(self.mac(token).as_slice().ct_eq(&presented))
    }
}

/// Signs a request given as parts (see [`CanonicalRequest::new`]); returns lower-case hex.
pub fn sign<'h>(
    method: &str,
    decoded_path: &[u8],
    raw_query: Option<&str>,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    token: &str,
) -> String {
    CanonicalRequest::new(method, decoded_path, raw_query, headers).sign(token)
}

/// The `Authorization` header value for a signed request: `<scheme> <user>:<signature>`.
pub fn authorization_header(scheme: &str, user: &str, signature_hex: &str) -> String {
    format!("{scheme} {user}:{signature_hex}")
}

/// Decodes a URL path like Go's `url.PathUnescape`: `%XX` decoded, `+` kept.
pub fn decode_path(raw: &str) -> Result<Vec<u8>, SignatureError> {
    query::unescape(raw.as_bytes(), false).ok_or(SignatureError::InvalidPathEscape)
}

/// The sorted query part of the canonical string, or `None` when the query has no key
/// (see [`Query::canonical`]).
pub fn canonical_query(raw_query: &str) -> Option<String> {
    Query::parse(Some(raw_query)).canonical()
}

/// Where the user of a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// No `Authorization` header.
    Absent,
    /// An `Authorization` header that is not `<scheme> <user>:<signature>`.
    Malformed,
    /// A well-formed `Authorization` header.
    Header,
}

/// The parsed `Authorization` header: missing or malformed means user `*` without signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The claimed user ([`ANONYMOUS_USER`] without usable credentials).
    pub user: String,
    /// The signature as sent (hex), if any.
    pub signature: Option<String>,
    /// Whether credentials were presented.
    pub source: CredentialSource,
}

impl ParsedAuthorization {
    /// The anonymous user `*` with no signature.
    pub fn anonymous(source: CredentialSource) -> ParsedAuthorization {
        ParsedAuthorization {
            user: ANONYMOUS_USER.to_owned(),
            signature: None,
            source,
        }
    }

    /// Parses the first `Authorization` header value, if any. Well-formed means exactly two
    /// whitespace-separated words, the second being `<user>:<signature>` with exactly one
    /// colon and a non-empty user and signature (Go splits the same way).
    pub fn parse(header: Option<&[u8]>) -> ParsedAuthorization {
        let Some(raw) = header else {
            return ParsedAuthorization::anonymous(CredentialSource::Absent);
        };
        let malformed = || ParsedAuthorization::anonymous(CredentialSource::Malformed);
        let Ok(text) = std::str::from_utf8(raw) else {
            return malformed();
        };
        let mut words = text.split_ascii_whitespace();
        let (Some(_scheme), Some(credentials), None) = (words.next(), words.next(), words.next())
        else {
            return malformed();
        };
        let mut parts = credentials.split(':');
        let (Some(user), Some(signature), None) = (parts.next(), parts.next(), parts.next()) else {
            return malformed();
        };
        if user.is_empty() || signature.is_empty() {
            return malformed();
        }
        ParsedAuthorization {
            user: user.to_owned(),
            signature: Some(signature.to_owned()),
            source: CredentialSource::Header,
        }
    }

    /// Parses the `Authorization` header of a request.
    pub fn from_headers(headers: &HeaderMap) -> ParsedAuthorization {
        ParsedAuthorization::parse(
            headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
    }

    /// True when the request presented well-formed credentials.
    pub fn has_credentials(&self) -> bool {
        self.source == CredentialSource::Header
    }
}

#[cfg(test)]
mod tests;
