//! The bearer token sent to kubelets: fixed (kubeconfig `token`) or read from a file
//! (service-account token, kubeconfig `tokenFile`) and re-read whenever the file changes,
//! so projected-token rotation needs no restart.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// Where the token comes from.
pub enum TokenSource {
    None,
    Fixed(String),
    File {
        path: PathBuf,
        cached: Mutex<Option<(SystemTime, String)>>,
    },
}

impl TokenSource {
    /// A file-backed source.
    pub fn file(path: PathBuf) -> Self {
        TokenSource::File {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The current token, if any. A file is re-read only when its modification time changed;
    /// an unreadable file yields the last good token (and a warning).
    pub fn current(&self) -> Option<String> {
        match self {
            TokenSource::None => None,
            TokenSource::Fixed(t) => Some(t.clone()),
            TokenSource::File { path, cached } => {
                // A std Mutex: held for a stat and at most one small read, never across .await.
                let mut cached = cached.lock().unwrap_or_else(|e| e.into_inner());
                let mtime = std::fs::metadata(path).and_then(|m| m.modified());
                match (mtime, cached.as_ref()) {
                    (Ok(m), Some((seen, tok))) if *seen == m => Some(tok.clone()),
                    (Ok(m), _) => match std::fs::read_to_string(path) {
                        Ok(t) => {
                            let t = t.trim().to_string();
                            *cached = Some((m, t.clone()));
                            Some(t)
                        }
                        Err(err) => {
                            tracing::warn!(path = %path.display(), error = %err, "Cannot read kubelet bearer token file.");
                            cached.as_ref().map(|(_, t)| t.clone())
                        }
                    },
                    (Err(err), prev) => {
                        tracing::warn!(path = %path.display(), error = %err, "Cannot stat kubelet bearer token file.");
                        prev.map(|(_, t)| t.clone())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_token_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let src = TokenSource::file(path.clone());
        assert_eq!(src.current().as_deref(), Some("first"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "second").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(src.current().as_deref(), Some("second"));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            src.current().as_deref(),
            Some("second"),
            "keeps the last good token"
        );
    }
}
