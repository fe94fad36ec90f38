//! Why presented credentials did not authenticate a request: each authenticator's reason,
//! joined into the one logged with the 401.

use super::client_cert::CertFailure;
use super::token_review::ReviewError;

/// One authenticator's reason to reject the credentials it was shown.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthnFailure {
    #[error(transparent)]
    Certificate(CertFailure),
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("the bearer token is not UTF-8")]
    TokenNotUtf8,
    /// The token could not be reviewed.
    #[error(transparent)]
    Review(ReviewError),
}

/// Every reason given for one request, in the order the authenticators ran.
#[derive(Clone, Debug, Default)]
pub struct Rejections(pub Vec<AuthnFailure>);

impl std::fmt::Display for Rejections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::token_review::ReviewKind;

    #[test]
    fn the_reasons_are_joined_in_order() {
        let all = Rejections(vec![
            AuthnFailure::Certificate(CertFailure::FrontProxyName {
                name: "x".into(),
                allowed: vec!["proxy".into()],
            }),
            AuthnFailure::TokenNotUtf8,
            AuthnFailure::Review(ReviewError::NoStatus(ReviewKind::Token)),
        ]);
        assert_eq!(
            all.to_string(),
            "front-proxy certificate common name \"x\" is not allowed (allowed: [\"proxy\"]); \
             the bearer token is not UTF-8; token review answered without a status"
        );
        assert_eq!(Rejections::default().to_string(), "");
    }
}
