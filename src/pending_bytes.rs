//! Bytes already received but not yet handed to a reader, drained from the front into the
//! reader's buffers: the kubelet client's decrypted TLS records, the serving connection's
//! held request heads.

use tokio::io::ReadBuf;

/// A buffer read from `from` on; its memory is released once it is drained.
#[derive(Debug, Default)]
pub struct PendingBytes {
    bytes: Vec<u8>,
    from: usize,
}

impl PendingBytes {
    /// Replaces what is pending with `bytes`.
    pub fn set(&mut self, bytes: Vec<u8>) {
        self.bytes = bytes;
        self.from = 0;
    }

    /// Appends `more` after what is pending.
    pub fn extend(&mut self, more: &[u8]) {
        self.bytes.extend_from_slice(more);
    }

    /// Memory held, pending or not.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.from == self.bytes.len()
    }

    /// Copies as much as `buf` takes; false when nothing was pending.
    pub fn drain_into(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let left = &self.bytes[self.from..];
        if left.is_empty() {
            return false;
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        self.from += n;
        if self.is_empty() {
            *self = PendingBytes::default();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_pieces_then_releases_its_memory() {
        let mut pending = PendingBytes::default();
        pending.set(b"abcde".to_vec());
        pending.extend(b"fg");
        let mut out = [0u8; 4];
        let mut buf = ReadBuf::new(&mut out);
        assert!(pending.drain_into(&mut buf));
        assert_eq!(buf.filled(), b"abcd");
        let mut out = [0u8; 8];
        let mut buf = ReadBuf::new(&mut out);
        assert!(pending.drain_into(&mut buf));
        assert_eq!(buf.filled(), b"efg");
        assert!(pending.is_empty() && pending.capacity() == 0);
        assert!(!pending.drain_into(&mut buf));
    }
}
