//! Range and conditional decisions: every case of BENCHMARKS.md's Range list and more.

use super::*;
use std::time::Duration;

const SIZE: u64 = 10_000;
const ETAG: &str = "\"abc\"";

/// Last-Modified with a sub-second part, to check the truncation to seconds.
fn modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
}

fn date(offset_secs: i64) -> String {
    let base = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let time = if offset_secs >= 0 {
        base + Duration::from_secs(offset_secs.unsigned_abs())
    } else {
        base - Duration::from_secs(offset_secs.unsigned_abs())
    };
    http_date(time)
}

/// A request with nothing but what `set` puts in it.
fn request(set: impl FnOnce(&mut ConditionalRequest)) -> ConditionalRequest {
    let mut request = ConditionalRequest::default();
    set(&mut request);
    request
}

fn range(header: &str) -> ConditionalRequest {
    request(|r| r.range = Some(header.into()))
}

fn get(request: &ConditionalRequest) -> Decision {
    evaluate(
        &Method::GET,
        request,
        ETAG,
        modified(),
        SIZE,
        DEFAULT_MAX_RANGES,
    )
}

fn br(start: u64, end: u64) -> ByteRange {
    ByteRange::new(start, end).unwrap()
}

#[test]
fn single_suffix_and_open_ranges() {
    for (header, start, end) in [
        ("bytes=0-1", 0, 1),
        ("bytes=100-199", 100, 199),
        ("bytes=-65536", 0, SIZE - 1),
        ("bytes=-100", 9_900, 9_999),
        ("bytes=9000-", 9_000, 9_999),
        ("bytes=0-", 0, 9_999),
        ("bytes=9990-20000", 9_990, 9_999),
        ("Bytes=5-5", 5, 5),
        // huge numbers saturate
        ("bytes=0-99999999999999999999999", 0, 9_999),
    ] {
        let want = Decision::Partial(br(start, end));
        assert_eq!(get(&range(header)), want, "{header}");
    }
    assert_eq!(
        get(&range("BYTES = 5-5")),
        Decision::Full,
        "spaces around '=' are invalid"
    );
}

#[test]
fn content_range_values() {
    assert_eq!(br(0, 1).content_range(SIZE), "bytes 0-1/10000");
    assert_eq!(unsatisfied_content_range(SIZE), "bytes */10000");
    assert_eq!(br(3, 3).length(), 1);
}

#[test]
fn multi_range_sorted_and_coalesced() {
    assert_eq!(
        get(&range("bytes=500-599, 0-99")),
        Decision::Multi(vec![br(0, 99), br(500, 599)])
    );
    assert_eq!(
        get(&range("bytes=0-99,50-150,151-200")),
        Decision::Partial(br(0, 200))
    );
    assert_eq!(
        get(&range("bytes=0-0,-1")),
        Decision::Multi(vec![br(0, 0), br(9_999, 9_999)])
    );
    // unsatisfiable members are dropped when others are satisfiable
    assert_eq!(get(&range("bytes=20000-,5-9")), Decision::Partial(br(5, 9)));
    assert_eq!(
        get(&range("bytes=1-1,,3-3, ")),
        Decision::Multi(vec![br(1, 1), br(3, 3)])
    );
}

#[test]
fn max_ranges_cap_serves_full() {
    let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let header = format!("bytes={}", many.join(","));
    assert_eq!(get(&range(&header)), Decision::Full);
    let header = format!("bytes={}", many[..16].join(","));
    assert!(matches!(get(&range(&header)), Decision::Multi(r) if r.len() == 16));
    let request = range("bytes=0-1");
    assert_eq!(
        evaluate(&Method::GET, &request, ETAG, modified(), SIZE, 0),
        Decision::Full
    );
}

#[test]
fn unsatisfiable_ranges() {
    assert_eq!(get(&range("bytes=10000-")), Decision::Unsatisfiable);
    assert_eq!(get(&range("bytes=10000-10005")), Decision::Unsatisfiable);
    assert_eq!(get(&range("bytes=-0")), Decision::Unsatisfiable);
    assert_eq!(
        get(&range("bytes=20000-30000,40000-")),
        Decision::Unsatisfiable
    );
}

#[test]
fn zero_length_object() {
    let request = range("bytes=0-");
    let decide = |r: &ConditionalRequest| evaluate(&Method::GET, r, ETAG, modified(), 0, 16);
    assert_eq!(decide(&request), Decision::Unsatisfiable);
    assert_eq!(decide(&range("bytes=-10")), Decision::Unsatisfiable);
    assert_eq!(decide(&ConditionalRequest::default()), Decision::Full);
}

#[test]
fn invalid_range_headers_are_ignored() {
    for header in [
        "bytes=5-3",
        "items=0-1",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-2-3",
        "0-1",
        "bytes=+1-2",
    ] {
        assert_eq!(get(&range(header)), Decision::Full, "{header}");
    }
}

#[test]
fn range_only_for_get_and_head() {
    let request = range("bytes=0-1");
    let decide = |m: &Method| evaluate(m, &request, ETAG, modified(), SIZE, 16);
    assert_eq!(decide(&Method::HEAD), Decision::Partial(br(0, 1)));
    assert_eq!(decide(&Method::POST), Decision::Full);
    assert_eq!(decide(&Method::DELETE), Decision::Full);
}

#[test]
fn if_range_with_etag() {
    let mut request = range("bytes=0-1");
    request.if_range = Some(ETAG.into());
    assert_eq!(get(&request), Decision::Partial(br(0, 1)));
    request.if_range = Some("\"other\"".into());
    assert_eq!(get(&request), Decision::Full, "mismatch → full 200");
    request.if_range = Some("W/\"abc\"".into());
    assert_eq!(get(&request), Decision::Full, "weak tags never match");
    let weak_current = evaluate(&Method::GET, &request, "W/\"abc\"", modified(), SIZE, 16);
    assert_eq!(
        weak_current,
        Decision::Full,
        "weak current tag never matches either"
    );
    request.if_range = Some("garbage".into());
    assert_eq!(get(&request), Decision::Full);
}

#[test]
fn if_range_with_date() {
    let mut request = range("bytes=-10");
    request.if_range = Some(date(0));
    assert_eq!(
        get(&request),
        Decision::Partial(br(9_990, 9_999)),
        "equal to the second"
    );
    request.if_range = Some(date(1));
    assert_eq!(
        get(&request),
        Decision::Full,
        "later date is not an exact match"
    );
    request.if_range = Some(date(-1));
    assert_eq!(get(&request), Decision::Full);
}

#[test]
fn if_none_match_and_if_modified_since() {
    let inm = |v: &str| request(|r| r.if_none_match = Some(v.into()));
    for (value, want) in [
        (ETAG, Decision::NotModified),
        ("W/\"abc\"", Decision::NotModified), // weak comparison
        ("\"x\", \"abc\"", Decision::NotModified),
        ("*", Decision::NotModified),
        ("\"x\"", Decision::Full),
    ] {
        assert_eq!(get(&inm(value)), want, "If-None-Match: {value}");
    }
    assert_eq!(
        evaluate(&Method::HEAD, &inm(ETAG), ETAG, modified(), SIZE, 16),
        Decision::NotModified
    );
    assert_eq!(
        evaluate(&Method::DELETE, &inm("*"), ETAG, modified(), SIZE, 16),
        Decision::PreconditionFailed
    );

    let ims = |v: String| request(|r| r.if_modified_since = Some(v));
    assert_eq!(get(&ims(date(0))), Decision::NotModified, "same second");
    assert_eq!(get(&ims(date(60))), Decision::NotModified);
    assert_eq!(get(&ims(date(-1))), Decision::Full);
    assert_eq!(get(&ims("not a date".into())), Decision::Full);
    assert_eq!(
        evaluate(&Method::POST, &ims(date(60)), ETAG, modified(), SIZE, 16),
        Decision::Full
    );
    // If-None-Match present: If-Modified-Since is ignored
    let mut both = inm("\"x\"");
    both.if_modified_since = Some(date(60));
    assert_eq!(get(&both), Decision::Full);
    // a conditional GET with a range: 304 wins
    let mut ranged = inm(ETAG);
    ranged.range = Some("bytes=0-1".into());
    assert_eq!(get(&ranged), Decision::NotModified);
}

#[test]
fn if_match_and_if_unmodified_since() {
    let im = |v: &str| request(|r| r.if_match = Some(v.into()));
    for (value, want) in [
        (ETAG, Decision::Full),
        ("*", Decision::Full),
        ("W/\"abc\"", Decision::PreconditionFailed), // strong comparison
        ("\"x\"", Decision::PreconditionFailed),
        ("", Decision::PreconditionFailed),
    ] {
        assert_eq!(get(&im(value)), want, "If-Match: {value}");
    }
    let untagged =
        |r: &ConditionalRequest| evaluate(&Method::GET, r, "bad tag", modified(), SIZE, 16);
    assert_eq!(
        untagged(&im("*")),
        Decision::Full,
        "* holds for any existing object"
    );
    assert_eq!(untagged(&im("\"bad tag\"")), Decision::PreconditionFailed);
    assert_eq!(
        evaluate(&Method::DELETE, &im("\"x\""), ETAG, modified(), SIZE, 16),
        Decision::PreconditionFailed
    );

    let ius = |v: String| request(|r| r.if_unmodified_since = Some(v));
    assert_eq!(get(&ius(date(0))), Decision::Full);
    assert_eq!(get(&ius(date(-1))), Decision::PreconditionFailed);
    assert_eq!(
        get(&ius("yesterday".into())),
        Decision::Full,
        "invalid date ignored"
    );
    // If-Match present: If-Unmodified-Since is ignored
    let mut both = im(ETAG);
    both.if_unmodified_since = Some(date(-100));
    assert_eq!(get(&both), Decision::Full);
    // 412 is checked before 304
    let mut both = im("\"x\"");
    both.if_none_match = Some(ETAG.into());
    assert_eq!(get(&both), Decision::PreconditionFailed);
}

#[test]
fn query_window() {
    let window = |q: &str| QueryWindow::from_query(q).unwrap();
    let with = |q: &str, header: Option<&str>| ConditionalRequest {
        window: window(q),
        range: header.map(Into::into),
        ..Default::default()
    };
    assert_eq!(window("a=1"), None);
    assert_eq!(
        window("offset=5&size=10"),
        Some(QueryWindow {
            offset: 5,
            size: 10
        })
    );
    assert_eq!(
        window("size=10&offset=&offset=7&offset=9"),
        Some(QueryWindow {
            offset: 7,
            size: 10
        })
    );
    assert!(QueryWindow::from_query("offset=-1").is_err());
    assert!(QueryWindow::from_query("size=1k").is_err());
    assert_eq!(
        get(&with("offset=5000&size=2500", None)),
        Decision::Window(br(5_000, 7_499))
    );
    assert_eq!(
        get(&with("offset=5000", None)),
        Decision::Window(br(5_000, 9_999))
    );
    assert_eq!(
        get(&with("offset=9990&size=100", None)),
        Decision::Window(br(9_990, 9_999))
    );
    assert_eq!(get(&with("size=100", None)), Decision::Window(br(0, 99)));
    assert_eq!(get(&with("offset=0&size=0", None)), Decision::Full);
    assert_eq!(get(&with("offset=10000", None)), Decision::Unsatisfiable);
    assert_eq!(
        get(&with("offset=5&size=5", Some("bytes=0-0"))),
        Decision::Window(br(5, 9)),
        "window wins"
    );
}

#[test]
fn from_headers_collects_and_joins() {
    let mut headers = HeaderMap::new();
    headers.append(header::IF_NONE_MATCH, "\"a\"".parse().unwrap());
    headers.append(header::IF_NONE_MATCH, "\"abc\"".parse().unwrap());
    headers.insert(header::RANGE, "bytes=0-1".parse().unwrap());
    headers.insert(
        header::IF_MATCH,
        http::HeaderValue::from_bytes(b"\"\xff\"").unwrap(),
    );
    let request = ConditionalRequest::from_headers(&headers);
    assert_eq!(request.if_none_match.as_deref(), Some("\"a\", \"abc\""));
    assert_eq!(request.range.as_deref(), Some("bytes=0-1"));
    assert_eq!(request.if_match.as_deref(), Some(""));
    assert_eq!(request.if_range, None);
    assert_eq!(get(&request), Decision::PreconditionFailed);
}

#[test]
fn http_date_format() {
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
}
