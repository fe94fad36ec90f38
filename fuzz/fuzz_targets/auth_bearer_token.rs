//! The bearer token of an `Authorization` header: never panics on any header value; a token
//! found is non-empty, has no surrounding ASCII whitespace (other bytes are the token's, for
//! the TokenReview to judge), comes after a case-insensitive `Bearer`
//! scheme, and `Bearer <token>` gives the same token back; a token that is not text is
//! `Invalid`, never anonymous. Deliberately small: it follows
//! `bearer_token`'s signature.
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use metrics_server::server::auth::token_review::{Bearer, bearer_token};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let headers = HeaderMap::from_iter([(AUTHORIZATION, value)]);
    let token = match bearer_token(&headers) {
        Bearer::Absent => return,
        Bearer::Invalid => {
            // Only a Bearer scheme whose token is not text is invalid.
            assert!(std::str::from_utf8(data).is_err(), "{data:?}");
            return;
        }
        Bearer::Token(token) => token,
    };
    assert!(
        !token.is_empty() && token.trim_ascii() == token,
        "{token:?}"
    );
    let text = String::from_utf8_lossy(data);
    let scheme = text.trim_ascii_start().get(..7).unwrap_or_default();
    assert!(scheme.eq_ignore_ascii_case("bearer "), "{text:?}");
    assert!(text.contains(token));
    let again = HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a value");
    let headers = HeaderMap::from_iter([(AUTHORIZATION, again)]);
    assert_eq!(bearer_token(&headers), Bearer::Token(token));
});
