//! Reads from the Kubernetes API for `diagnose`: every call bounded in time, lists paged
//! (bounded responses) and capped in items, and errors sorted into what a report line says:
//! the object is missing, the identity diagnose runs as may not read it, or anything else.

use std::future::Future;
use std::time::Duration;

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

/// Deadline of one API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Items asked for per page of a list.
const PAGE_SIZE: u32 = 500;

/// Why an API read did not give the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not found")]
    NotFound,
    /// The identity diagnose runs as may not read it (not a finding about the installation).
    #[error("diagnose may not read it: {0}")]
    Forbidden(String),
    #[error("no answer from the API server within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Other(String),
}

impl From<kube::Error> for ReadError {
    fn from(err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) if status.code == 404 => ReadError::NotFound,
            kube::Error::Api(status) if status.code == 403 || status.code == 401 => {
                ReadError::Forbidden(super::report::quoted(&status.message))
            }
            kube::Error::Api(status) => ReadError::Other(format!(
                "{} {}",
                status.code,
                super::report::quoted(&status.message)
            )),
            other => ReadError::Other(super::report::quoted(&with_causes(&other))),
        }
    }
}

/// An error and the errors it wraps, `outer: inner: innermost`, each said once.
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

/// Runs one API call within [`CALL_TIMEOUT`].
pub async fn call<T>(
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, ReadError> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(result) => result.map_err(ReadError::from),
        Err(_) => Err(ReadError::Timeout(CALL_TIMEOUT)),
    }
}

/// One object by name.
pub async fn get<K>(api: &Api<K>, name: &str) -> Result<K, ReadError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    call(api.get(name)).await
}

/// A list, page by page, stopping after `cap` items; the flag says whether it stopped early.
pub async fn list_capped<K>(
    api: &Api<K>,
    params: ListParams,
    cap: usize,
) -> Result<(Vec<K>, bool), ReadError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    let mut params = params.limit(PAGE_SIZE);
    loop {
        let page = call(api.list(&params)).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        items.extend(page.items);
        if items.len() >= cap {
            let truncated = items.len() > cap || next.is_some();
            items.truncate(cap);
            return Ok((items, truncated));
        }
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok((items, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": code, "message": message, "reason": "", "status": "Failure",
        }))
        .unwrap();
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn other_errors_keep_their_causes() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let wrapped = kube::Error::Service(Box::new(refused));
        let text = ReadError::from(wrapped).to_string();
        assert!(text.ends_with(": refused"), "{text}");
    }

    #[test]
    fn api_errors_are_sorted_for_the_report() {
        assert_eq!(ReadError::from(api_error(404, "gone")), ReadError::NotFound);
        assert_eq!(
            ReadError::from(api_error(403, "user cannot get")),
            ReadError::Forbidden("user cannot get".into())
        );
        assert_eq!(
            ReadError::from(api_error(500, "boom")),
            ReadError::Other("500 boom".into())
        );
    }
}
