//! Tests of the canonical request, the HMAC and `Authorization` parsing.

use super::*;
use hmac::{Hmac, Mac};
use sha2::Sha512;

const RAW_PATH: &str = "/upload/photos/%D0%BA%D0%BB%D1%8E%D1%87%201+2.txt";
const RAW_QUERY: &str = "z=~&b=x%20y/z&a=1&a=2&empty=&;bad=1&&bad2=%zz";
const CANONICAL: &str =
    "POST\n/upload/photos/ключ 1+2.txt?a=1&b=x+y%2Fz&z=~\nx-ell-a:1\nx-ell-b:two words\n";
/// HMAC-SHA512("secure string", CANONICAL), computed with Python's `hmac` module.
const CANONICAL_HMAC: &str = "a07dad87a81a2e4fd852148753d1388f56f30c46ddbd5dcb6891c28c42453a91\
                              7ab69aa850f475542bd81fa6002506341c1b7acb5357e97e3847a88841eb418e";

fn known_headers() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("X-Ell-B", b"  two words \t"),
        ("x-ell-a", b"1"),
        ("X-ELL-A", b"ignored second value"),
        ("Content-Type", b"text/plain"),
        ("X-Other", b"not signed"),
    ]
}

fn known_request() -> CanonicalRequest {
    let path = decode_path(RAW_PATH).unwrap();
    CanonicalRequest::new("POST", &path, Some(RAW_QUERY), known_headers())
}

#[test]
fn canonical_string_follows_go_rules() {
    assert_eq!(known_request().as_bytes(), CANONICAL.as_bytes());
}

#[test]
fn known_answer_hmac() {
    let mut mac = Hmac::<Sha512>::new_from_slice(b"secure string").unwrap();
    mac.update(CANONICAL.as_bytes());
    let independent = hex::encode(mac.finalize().into_bytes());
    assert_eq!(independent, CANONICAL_HMAC);
    assert_eq!(known_request().sign("secure string"), CANONICAL_HMAC);
    let path = decode_path(RAW_PATH).unwrap();
    let signed = sign(
        "POST",
        &path,
        Some(RAW_QUERY),
        known_headers(),
        "secure string",
    );
    assert_eq!(signed, CANONICAL_HMAC);
}

#[test]
fn from_http_request_matches_parts() {
    let uri: Uri = format!("http://proxy{RAW_PATH}?{RAW_QUERY}")
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.append("x-ell-b", "two words".parse().unwrap());
    headers.append("X-Ell-A", "1".parse().unwrap());
    headers.append("x-ell-a", "ignored".parse().unwrap());
    headers.append("content-length", "5".parse().unwrap());
    let canonical = CanonicalRequest::from_request(&Method::POST, &uri, &headers).unwrap();
    assert_eq!(canonical.as_bytes(), CANONICAL.as_bytes());
    let bad: Uri = "/get/b/%zz".parse().unwrap();
    assert_eq!(
        CanonicalRequest::from_request(&Method::GET, &bad, &HeaderMap::new()),
        Err(SignatureError::InvalidPathEscape)
    );
}

#[test]
fn query_sorting_and_empty_values() {
    assert_eq!(
        canonical_query("user=Mary&timestamp=12345&boolean").as_deref(),
        Some("timestamp=12345&user=Mary")
    );
    // Keys with only empty values still produce "?" (Go appends it whenever the query parsed
    // to at least one key).
    assert_eq!(canonical_query("flag").as_deref(), Some(""));
    assert_eq!(canonical_query("a=&b="), Some(String::new()));
    assert_eq!(canonical_query(""), None);
    assert_eq!(canonical_query("&&"), None);
    // first value wins, even when it is empty
    assert_eq!(canonical_query("k=&k=2").as_deref(), Some(""));
    assert_eq!(canonical_query("k=2&k=").as_deref(), Some("k=2"));
    // byte-order sort on decoded keys, Go QueryEscape on output
    assert_eq!(
        canonical_query("b=1&B=2&%61=3&a%20b=*").as_deref(),
        Some("B=2&a=3&a+b=%2A&b=1")
    );
    assert_eq!(canonical_query("=v").as_deref(), Some("=v"));
    let request = CanonicalRequest::new("GET", b"/p", Some("flag"), []);
    assert_eq!(request.as_bytes(), b"GET\n/p?\n");
    let request = CanonicalRequest::new("GET", b"/p", None, []);
    assert_eq!(request.as_bytes(), b"GET\n/p\n");
}

#[test]
fn path_decoding() {
    assert_eq!(decode_path("/a%2Fb+c%20d").unwrap(), b"/a/b+c d");
    assert_eq!(decode_path("/%ff").unwrap(), [b'/', 0xff]);
    assert_eq!(decode_path("/%f"), Err(SignatureError::InvalidPathEscape));
    assert_eq!(decode_path("/%"), Err(SignatureError::InvalidPathEscape));
}

#[test]
fn header_canonicalisation() {
    let headers: [(&str, &[u8]); 4] = [
        ("X-ELL-Zeta", b"z"),
        ("x-ell-alpha", b" a b "),
        ("x-ellipsis", b"not signed: no dash after ell"),
        ("X-Ell-", b"empty suffix"),
    ];
    let request = CanonicalRequest::new("DELETE", b"/d", None, headers);
    assert_eq!(
        request.as_bytes(),
        b"DELETE\n/d\nx-ell-:empty suffix\nx-ell-alpha:a b\nx-ell-zeta:z\n"
    );
}

#[test]
fn verify_is_case_insensitive_and_rejects_garbage() {
    let request = known_request();
    assert!(request.verify("secure string", CANONICAL_HMAC));
    assert!(request.verify("secure string", &CANONICAL_HMAC.to_uppercase()));
    assert!(!request.verify("other token", CANONICAL_HMAC));
    assert!(!request.verify("secure string", &CANONICAL_HMAC[..64]));
    assert!(!request.verify("secure string", "not hex"));
    assert!(!request.verify("secure string", ""));
}

#[test]
fn authorization_header_round_trip() {
    let value = authorization_header(DEFAULT_AUTH_SCHEME, "alice", "abcd");
    assert_eq!(value, "riftv1 alice:abcd");
    let parsed = ParsedAuthorization::parse(Some(value.as_bytes()));
    assert_eq!(parsed.user, "alice");
    assert_eq!(parsed.signature.as_deref(), Some("abcd"));
    assert!(parsed.has_credentials());
}

#[test]
fn missing_or_malformed_authorization_is_anonymous() {
    let absent = ParsedAuthorization::parse(None);
    assert_eq!(
        absent,
        ParsedAuthorization::anonymous(CredentialSource::Absent)
    );
    assert_eq!(absent.user, "*");
    for bad in [
        &b""[..],
        b"riftv1",
        b"riftv1 alice",
        b"riftv1 alice:sig extra",
        b"riftv1 a:b:c",
        b"riftv1 :sig",
        b"riftv1 alice:",
        b"\xff\xfe alice:sig",
    ] {
        let parsed = ParsedAuthorization::parse(Some(bad));
        assert_eq!(
            parsed,
            ParsedAuthorization::anonymous(CredentialSource::Malformed),
            "{bad:?}"
        );
        assert!(!parsed.has_credentials());
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        "Bearer bob:00ff".parse().unwrap(),
    );
    let parsed = ParsedAuthorization::from_headers(&headers);
    assert_eq!(
        (parsed.user.as_str(), parsed.signature.as_deref()),
        ("bob", Some("00ff"))
    );
}
