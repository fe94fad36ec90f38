//! The headers the apiserver's filter chain puts on every response: `Cache-Control: no-cache,
//! private` (no shared cache may keep metrics or errors) and `Audit-Id`, the request's own
//! when it sent one (the aggregator forwards its audit ID), else a new random UUID.

use http::header::{CACHE_CONTROL, HeaderName, HeaderValue};

/// `Audit-Id`, as the apiserver spells it.
pub const AUDIT_ID: HeaderName = HeaderName::from_static("audit-id");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache, private");

/// Sets both headers on `headers` (a `Cache-Control` the handler chose is kept);
/// `request_id` is the request's `Audit-Id`, if any.
pub fn insert(headers: &mut http::HeaderMap, request_id: Option<&HeaderValue>) {
    headers.entry(CACHE_CONTROL).or_insert(NO_CACHE);
    let id = request_id
        .filter(|id| !id.is_empty())
        .cloned()
        .unwrap_or_else(new_id);
    headers.insert(AUDIT_ID, id);
}

/// A random (version 4) UUID.
fn new_id() -> HeaderValue {
    let bits =
        fastrand::u128(..) & !(0xf000 << 64) & !(0xc000 << 48) | (0x4000 << 64) | (0x8000 << 48);
    let hex = format!("{bits:032x}");
    let text = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(
        "00000000-0000-4000-8000-000000000000",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_gets_no_cache_and_a_fresh_uuid() {
        let (mut a, mut b) = (http::HeaderMap::new(), http::HeaderMap::new());
        insert(&mut a, None);
        insert(&mut b, None);
        assert_eq!(a[CACHE_CONTROL], "no-cache, private");
        let id = a[AUDIT_ID].to_str().unwrap();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert!(
            matches!(&id[19..20], "8" | "9" | "a" | "b"),
            "variant: {id}"
        );
        assert_ne!(a[AUDIT_ID], b[AUDIT_ID]);
    }

    #[test]
    fn a_cache_control_the_handler_chose_is_kept() {
        let mut headers = http::HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("public"));
        insert(&mut headers, None);
        assert_eq!(headers[CACHE_CONTROL], "public");
    }

    #[test]
    fn the_requests_audit_id_is_echoed() {
        let mut headers = http::HeaderMap::new();
        insert(
            &mut headers,
            Some(&HeaderValue::from_static("from-the-aggregator")),
        );
        assert_eq!(headers[AUDIT_ID], "from-the-aggregator");
    }
}
