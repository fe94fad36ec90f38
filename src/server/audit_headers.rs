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
    let mut id = request_id
        .filter(|id| !id.is_empty())
        .cloned()
        .unwrap_or_else(new_id);
    // Every response has its own: HTTP/2 sends it as a literal never indexed rather than
    // adding each one to the connection's header table (a search and an eviction per
    // response, and the entries other headers would reuse pushed out).
    id.set_sensitive(true);
    headers.insert(AUDIT_ID, id);
}

/// A random (version 4) UUID, written straight into its 36 bytes (two `format!`s and a
/// copy were ~2 % of the server's CPU under a get load).
fn new_id() -> HeaderValue {
    let bits =
        fastrand::u128(..) & !(0xf000 << 64) & !(0xc000 << 48) | (0x4000 << 64) | (0x8000 << 48);
    HeaderValue::from_bytes(&uuid_text(bits)).unwrap_or(HeaderValue::from_static(
        "00000000-0000-4000-8000-000000000000",
    ))
}

/// `bits` as a UUID: 32 lowercase hex digits, most significant first, grouped 8-4-4-4-12.
fn uuid_text(bits: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let positions = (0..36).filter(|i| !matches!(i, 8 | 13 | 18 | 23));
    for (n, at) in positions.enumerate() {
        let nibble = (bits >> (124 - 4 * n)) & 0xf;
        out[at] = HEX[nibble as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_written_as_its_hex_digits_in_groups() {
        let bits = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        let text = uuid_text(bits);
        assert_eq!(&text, b"01234567-89ab-cdef-fedc-ba9876543210");
        let hex = format!("{bits:032x}");
        assert_eq!(String::from_utf8_lossy(&text).replace('-', ""), hex);
    }

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
