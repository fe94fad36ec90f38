//! `Content-Encoding: gzip` (RFC 1952), as the apiserver sends it: level 1, only for clients
//! that send `Accept-Encoding: gzip`, only for bodies over 128 KiB.
//!
//! Besides one-shot compression of a response buffer, this module writes gzip members out of
//! pieces compressed ahead of time: a [`Segment`] is raw deflate that starts with an empty
//! dictionary and ends byte-aligned on a sync flush, so segments can be concatenated in any
//! order between uncompressed "stored" blocks, and the member's CRC-32 is combined from the
//! pieces' CRCs without touching the data again.

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Bodies up to this size go out uncompressed (the apiserver's `defaultGzipThresholdBytes`).
pub const THRESHOLD_BYTES: usize = 128 * 1024;

/// The apiserver's level (`defaultGzipContentEncodingLevel`): the least CPU per byte.
pub(super) fn level() -> Compression {
    Compression::fast()
}

/// Whether an `Accept-Encoding` header value accepts gzip: a `gzip` token (any case) not
/// weighted `q=0`. (The apiserver looks for the bare token; a weight of zero is a refusal.)
pub fn accepted(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|token| {
        let mut parts = token.split(';').map(str::trim);
        let coding_is_gzip = parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        coding_is_gzip && !refused
    })
}

/// Whether a request's `Accept-Encoding` header accepts gzip (see [`accepted`]).
pub fn accepted_by(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepted)
}

/// Why compression stopped: the body or segment it was writing is incomplete and must not be
/// sent.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    #[error("gzip compression failed: {0}")]
    Write(#[from] std::io::Error),
    #[error("deflate failed: {0}")]
    Deflate(#[from] flate2::CompressError),
    #[error("deflate returned {status:?} with {left} input bytes left")]
    Stalled { status: Status, left: usize },
    #[error("deflate reported more bytes than it was given or had room for")]
    Accounting,
}

/// `body` as one gzip member.
pub fn compress(body: &[u8]) -> Result<Vec<u8>, GzipError> {
    let out = Vec::with_capacity(body.len() / 8 + 64);
    let mut encoder = flate2::write::GzEncoder::new(out, level());
    encoder.write_all(body)?;
    Ok(encoder.finish()?)
}

/// The 10-byte member header: deflate, no flags, no time, fastest level, unknown OS (as Go
/// writes it at level 1).
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

/// The last deflate block of a member: an empty final stored block.
pub const FINAL_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

/// `data` as non-final stored (uncompressed) deflate blocks, for a byte-aligned position.
pub fn stored_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65_535 + 1));
    for chunk in data.chunks(usize::from(u16::MAX)) {
        let len = chunk.len() as u16;
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The 8-byte member trailer: CRC-32 and length (mod 2^32) of the uncompressed data.
pub fn trailer(crc: &crc32fast::Hasher) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&crc.clone().finalize().to_le_bytes());
    out[4..].copy_from_slice(&(crc.total_len() as u32).to_le_bytes());
    out
}

/// A compressed piece: where its deflate bytes are, and the CRC-32 and length of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub bytes: std::ops::Range<usize>,
    pub crc: u32,
    /// Length of the uncompressed input.
    pub raw_len: u64,
}

impl Segment {
    /// The CRC state after this segment's input, to [`crc32fast::Hasher::combine`] with.
    pub fn crc_state(&self) -> crc32fast::Hasher {
        crc32fast::Hasher::new_with_initial_len(self.crc, self.raw_len)
    }
}

/// Compresses a sequence of [`Segment`]s into one buffer.
pub struct SegmentWriter {
    compress: Compress,
    out: Vec<u8>,
    /// Where the compressor writes before the bytes are appended to `out`: handing it the
    /// spare capacity of `out` instead would zero all of it on every call (flate2 initialises
    /// the buffer it passes on), megabytes per call for a list.
    scratch: Box<[u8]>,
    start: usize,
    crc: crc32fast::Hasher,
}

/// Size of [`SegmentWriter::scratch`].
const SCRATCH_BYTES: usize = 32 * 1024;

impl SegmentWriter {
    pub fn new(capacity: usize) -> Self {
        Self::with_scratch(capacity, SCRATCH_BYTES)
    }

    /// A writer whose compressor hands over at most `scratch_bytes` per call.
    pub(crate) fn with_scratch(capacity: usize, scratch_bytes: usize) -> Self {
        SegmentWriter {
            compress: Compress::new(level(), false),
            out: Vec::with_capacity(capacity),
            scratch: vec![0; scratch_bytes].into_boxed_slice(),
            start: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Adds `data` to the current segment. After an error the segment is incomplete: the
    /// writer must not be used for output.
    pub fn write(&mut self, data: &[u8]) -> Result<(), GzipError> {
        self.crc.update(data);
        self.deflate(data, FlushCompress::None)
    }

    /// Ends the current segment (byte-aligned; the next one starts with an empty dictionary).
    pub fn finish_segment(&mut self) -> Result<Segment, GzipError> {
        self.deflate(&[], FlushCompress::Sync)?;
        self.compress.reset();
        let crc = std::mem::take(&mut self.crc);
        let segment = Segment {
            bytes: self.start..self.out.len(),
            raw_len: crc.total_len(),
            crc: crc.finalize(),
        };
        self.start = self.out.len();
        Ok(segment)
    }

    /// The compressed bytes of every finished segment.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.out.truncate(self.start);
        self.out.shrink_to_fit();
        self.out
    }

    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> Result<(), GzipError> {
        // A call that starts with output left over from the one before only hands that over
        // (miniz_oxide returns right after), so `flush` is done by the first call that starts
        // with nothing left over and returns with room to spare. On entry nothing is left
        // over: the previous call to this function ended that way.
        let mut started_clean = true;
        loop {
            let (consumed_before, written_before) =
                (self.compress.total_in(), self.compress.total_out());
            let status = self.compress.compress(input, &mut self.scratch, flush)?;
            let consumed = usize::try_from(self.compress.total_in() - consumed_before)
                .map_err(|_| GzipError::Accounting)?;
            let written = usize::try_from(self.compress.total_out() - written_before)
                .map_err(|_| GzipError::Accounting)?;
            let output = self.scratch.get(..written).ok_or(GzipError::Accounting)?;
            self.out.extend_from_slice(output);
            input = input.get(consumed..).ok_or(GzipError::Accounting)?;
            let drained = written < self.scratch.len();
            match status {
                Status::Ok => {}
                // Nothing to take in and nothing to hand over: a write of no new input.
                Status::BufError
                    if flush == FlushCompress::None && input.is_empty() && written == 0 =>
                {
                    return Ok(());
                }
                status => {
                    return Err(GzipError::Stalled {
                        status,
                        left: input.len(),
                    });
                }
            }
            // Done when all input is in and a call that started clean had room to spare.
            if input.is_empty() && drained && started_clean {
                return Ok(());
            }
            started_clean = drained;
        }
    }
}

/// `member` decompressed (tests: a member that does not check out panics).
#[cfg(test)]
pub(crate) fn gunzip(member: &[u8]) -> Vec<u8> {
    gunzip_checked(member).expect("a valid gzip member")
}

/// `member` decompressed, or why it does not check out.
#[cfg(test)]
pub(crate) fn gunzip_checked(member: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(member).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_tokens_like_clients_send_them() {
        assert!(accepted("gzip"));
        assert!(accepted("deflate, gzip"));
        assert!(accepted("br;q=1.0, GZIP;q=0.5"));
        assert!(!accepted("gzip;q=0"));
        assert!(!accepted("identity"));
        assert!(!accepted("x-gzip2, deflate"));
        assert!(!accepted(""));
    }

    #[test]
    fn a_compressed_body_decompresses_to_itself() {
        let body: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let gz = compress(&body).unwrap();
        assert!(gz.len() < body.len() / 4, "{} bytes", gz.len());
        assert_eq!(gunzip(&gz), body);
    }

    /// The compressor emits a block whenever its buffer of codes fills, also while the sync
    /// flush that ends a segment works through the last input. When that block is larger than
    /// the room for output, the flush has not happened yet once it is drained: a segment cut
    /// there lost its last few kilobytes and its byte alignment (at 15,000 nodes one cycle's
    /// list in eight was corrupt). Incompressible input makes a block every ~58 KB, so these
    /// lengths end a segment just past a block boundary.
    #[test]
    fn a_segment_is_complete_when_its_last_block_fills_the_output_during_the_flush() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in (54_000..66_000).step_by(1_000) {
            let data: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
            let mut writer = SegmentWriter::new(0);
            writer.write(&data).unwrap();
            let first = writer.finish_segment().unwrap();
            writer.write(b"next").unwrap();
            let second = writer.finish_segment().unwrap();
            let deflated = writer.into_bytes();
            let mut member = HEADER.to_vec();
            member.extend_from_slice(&deflated[first.bytes.clone()]);
            member.extend_from_slice(&deflated[second.bytes.clone()]);
            member.extend_from_slice(&FINAL_BLOCK);
            let mut crc = first.crc_state();
            crc.combine(&second.crc_state());
            member.extend_from_slice(&trailer(&crc));
            let mut want = data;
            want.extend_from_slice(b"next");
            match gunzip_checked(&member) {
                Ok(got) => assert!(got == want, "{len} bytes: {} decompressed", got.len()),
                Err(err) => panic!("{len} bytes: {err}"),
            }
        }
    }

    #[test]
    fn segments_joined_in_any_order_with_stored_blocks_make_a_valid_member() {
        let parts: Vec<Vec<u8>> = (0..4)
            .map(|p| format!("part {p}: ").repeat(5_000 * (p + 1)).into_bytes())
            .collect();
        let mut writer = SegmentWriter::new(0);
        let segments: Vec<Segment> = parts
            .iter()
            .map(|part| {
                for piece in part.chunks(7_000) {
                    writer.write(piece).unwrap();
                }
                writer.finish_segment().unwrap()
            })
            .collect();
        let deflated = writer.into_bytes();
        for order in [[0, 1, 2, 3], [3, 1, 0, 2], [2, 2, 1, 0]] {
            let mut member = HEADER.to_vec();
            let mut crc = crc32fast::Hasher::new();
            let mut want = Vec::new();
            for (n, &i) in order.iter().enumerate() {
                let between = format!("<{n}>");
                member.extend_from_slice(&stored_blocks(between.as_bytes()));
                crc.update(between.as_bytes());
                want.extend_from_slice(between.as_bytes());
                member.extend_from_slice(&deflated[segments[i].bytes.clone()]);
                crc.combine(&segments[i].crc_state());
                want.extend_from_slice(&parts[i]);
                assert_eq!(segments[i].raw_len, parts[i].len() as u64);
            }
            let big = vec![b'x'; 70_000];
            member.extend_from_slice(&stored_blocks(&big));
            crc.update(&big);
            want.extend_from_slice(&big);
            member.extend_from_slice(&FINAL_BLOCK);
            member.extend_from_slice(&trailer(&crc));
            assert_eq!(gunzip(&member), want, "order {order:?}");
        }
        let total: usize = parts.iter().map(Vec::len).sum();
        assert!(deflated.len() < total / 20, "{} of {total}", deflated.len());
    }

    /// A compressor that cannot hand over its output (no room at all) must not leave a
    /// segment that silently lacks the data.
    #[test]
    fn a_compressor_that_makes_no_progress_is_an_error_not_a_short_segment() {
        let mut writer = SegmentWriter::with_scratch(0, 0);
        match writer.write(b"pods that must not go missing") {
            Err(GzipError::Stalled { status, left }) => {
                assert_eq!(status, Status::BufError);
                assert_eq!(left, 29);
            }
            other => panic!("{other:?}"),
        }
        assert!(writer.finish_segment().is_err());
    }

    #[test]
    fn writing_nothing_is_not_an_error() {
        let mut writer = SegmentWriter::new(0);
        writer.write(b"").unwrap();
        writer.write(b"x").unwrap();
        writer.write(b"").unwrap();
        let segment = writer.finish_segment().unwrap();
        let deflated = writer.into_bytes();
        let mut member = HEADER.to_vec();
        member.extend_from_slice(&deflated[segment.bytes.clone()]);
        member.extend_from_slice(&FINAL_BLOCK);
        member.extend_from_slice(&trailer(&segment.crc_state()));
        assert_eq!(gunzip(&member), b"x");
    }
}
