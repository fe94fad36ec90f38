//! Incremental decoder of the chunked transfer coding (RFC 9112 §7.1). It is fed the raw body
//! in whatever pieces the network delivers and says which bytes are data; chunk extensions
//! and trailer fields are skipped. [`ChunkedDecoder::decode_in_place`] moves the data of a
//! buffer's raw tail down over the framing, so a chunked body needs no second buffer.

use std::ops::Range;

/// Most framing bytes (one size line with its extensions, or the last-chunk line plus all
/// trailers) accepted before the decoder gives up.
const MAX_FRAMING_BYTES: usize = 64 * 1024;
/// Hex digits of the largest chunk size that fits in a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// The body is not valid chunked coding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("invalid chunk size line")]
    BadSize,
    #[error("chunk size has more than {MAX_SIZE_DIGITS} hex digits")]
    SizeTooLong,
    #[error("missing CRLF {0}")]
    MissingCrlf(&'static str),
    #[error("chunk extensions or trailers longer than {MAX_FRAMING_BYTES} bytes")]
    FramingTooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: whitespace and extensions up to CR.
    Extension {
        size: u64,
    },
    /// CR of the size line seen.
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    /// After a chunk's data.
    DataCr,
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    Trailer,
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    Done,
}

/// What one [`ChunkedDecoder::step`] did with the front of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used up.
    pub consumed: usize,
    /// Which of them are body data (empty when the step read framing).
    pub data: Range<usize>,
}

/// The result of one [`ChunkedDecoder::decode_in_place`] pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPlace {
    /// Decoded body bytes now at the front of the buffer.
    pub decoded: usize,
    /// Where decoding stopped: the buffer's end, or earlier when the body ended.
    pub consumed: usize,
}

/// State of one chunked body being decoded.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Framing bytes seen since the last chunk data.
    framing: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            framing: 0,
        }
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `input`: one run of data bytes, or framing up to the next data
    /// or the end of the body. Call again with the rest.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, ChunkedError> {
        if let State::Data { remaining } = self.state {
            let len = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
            self.state = match remaining - len as u64 {
                0 => State::DataCr,
                remaining => State::Data { remaining },
            };
            return Ok(Step {
                consumed: len,
                data: 0..len,
            });
        }
        let mut consumed = 0;
        for &byte in input {
            if matches!(self.state, State::Data { .. } | State::Done) {
                break;
            }
            consumed += 1;
            self.framing += 1;
            if self.framing > MAX_FRAMING_BYTES {
                return Err(ChunkedError::FramingTooLong);
            }
            self.state = self.next_state(byte)?;
        }
        if matches!(self.state, State::Data { .. }) {
            self.framing = 0;
        }
        Ok(Step {
            consumed,
            data: 0..0,
        })
    }

    fn next_state(&self, byte: u8) -> Result<State, ChunkedError> {
        Ok(match (self.state, byte) {
            (State::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
                if digits == MAX_SIZE_DIGITS {
                    return Err(ChunkedError::SizeTooLong);
                }
                let digit = u64::from(char::from(byte).to_digit(16).unwrap_or(0));
                State::Size {
                    size: (size << 4) | digit,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(ChunkedError::BadSize),
            (State::Size { size, .. }, b';' | b' ' | b'\t') => State::Extension { size },
            (State::Size { size, .. } | State::Extension { size }, b'\r') => State::SizeLf { size },
            (State::Size { .. }, _) => return Err(ChunkedError::BadSize),
            (State::Extension { .. }, b'\n') => {
                return Err(ChunkedError::MissingCrlf("after the chunk size"));
            }
            (State::Extension { .. }, _) => self.state,
            (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart,
            (State::SizeLf { size }, b'\n') => State::Data { remaining: size },
            (State::SizeLf { .. }, _) => {
                return Err(ChunkedError::MissingCrlf("after the chunk size"));
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
            (State::DataCr | State::DataLf, _) => {
                return Err(ChunkedError::MissingCrlf("after the chunk data"));
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::Trailer, b'\n') => {
                return Err(ChunkedError::MissingCrlf("after a trailer"));
            }
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::Trailer, _) => State::Trailer,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerLf | State::EndLf, _) => {
                return Err(ChunkedError::MissingCrlf("after the trailers"));
            }
            (State::Data { .. } | State::Done, _) => self.state,
        })
    }

    /// Decodes the raw bytes `buf[decoded..]`, moving their data down to start at `decoded`,
    /// the end of what earlier passes decoded. Stops at the end of the body.
    pub fn decode_in_place(
        &mut self,
        buf: &mut [u8],
        decoded: usize,
    ) -> Result<InPlace, ChunkedError> {
        let (mut write, mut read) = (decoded, decoded);
        while read < buf.len() && !self.is_done() {
            let step = self.step(&buf[read..])?;
            let data = read + step.data.start..read + step.data.end;
            let len = data.len();
            buf.copy_within(data, write);
            write += len;
            read += step.consumed;
        }
        Ok(InPlace {
            decoded: write,
            consumed: read,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `pieces` as they would arrive from the network, into one buffer, as the
    /// client does. Returns the body and the bytes left after its end.
    fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = Vec::new();
        let mut decoded = 0;
        for piece in pieces {
            buf.extend_from_slice(piece);
            let pass = decoder.decode_in_place(&mut buf, decoded)?;
            if decoder.is_done() {
                let left = buf.len() - pass.consumed;
                buf.truncate(pass.decoded);
                return Ok((buf, left));
            }
            decoded = pass.decoded;
            buf.truncate(decoded);
        }
        panic!("body not finished: {:?}", String::from_utf8_lossy(&buf));
    }

    fn decode_whole(raw: &[u8]) -> Result<Vec<u8>, ChunkedError> {
        decode(&[raw]).map(|(body, _)| body)
    }

    const TWO_CHUNKS: &[u8] = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\n\r\n";

    #[test]
    fn decodes_chunks_and_skips_extensions() {
        assert_eq!(decode_whole(TWO_CHUNKS).unwrap(), b"hello, world");
        assert_eq!(
            decode_whole(b"A ; a=1;b=\"x\"\r\n0123456789\r\n0\r\n\r\n").unwrap(),
            b"0123456789"
        );
        assert_eq!(decode_whole(b"0\r\n\r\n").unwrap(), b"");
    }

    #[test]
    fn skips_trailers() {
        let raw = b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Checksum: 1\r\n\r\n";
        assert_eq!(decode_whole(raw).unwrap(), b"abc");
    }

    #[test]
    fn any_split_across_reads_gives_the_same_body() {
        let raw = b"5\r\nhello\r\n7;ext\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        for at in 0..=raw.len() {
            let (front, back) = raw.split_at(at);
            assert_eq!(
                decode(&[front, back]).unwrap().0,
                b"hello, world",
                "split at {at}"
            );
        }
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap().0, b"hello, world");
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let mut raw = TWO_CHUNKS.to_vec();
        raw.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (body, left) = decode(&[&raw]).unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(left, 17);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert_eq!(decode_whole(b"xyz\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(decode_whole(b"5g\r\nhello"), Err(ChunkedError::BadSize));
        assert_eq!(decode_whole(b"\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(decode_whole(b"-1\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(
            decode_whole(b"10000000000000000\r\n"),
            Err(ChunkedError::SizeTooLong)
        );
    }

    #[test]
    fn missing_crlf_is_an_error() {
        assert!(matches!(
            decode_whole(b"5\r\nhelloX\r\n"),
            Err(ChunkedError::MissingCrlf(_))
        ));
        assert!(matches!(
            decode_whole(b"5\nhello\r\n"),
            Err(ChunkedError::BadSize)
        ));
        assert!(matches!(
            decode_whole(b"0\r\nTrailer\n"),
            Err(ChunkedError::MissingCrlf(_))
        ));
    }

    #[test]
    fn endless_extensions_are_refused() {
        let mut raw = b"5;".to_vec();
        raw.resize(MAX_FRAMING_BYTES + 10, b'x');
        assert_eq!(decode_whole(&raw), Err(ChunkedError::FramingTooLong));
    }

    #[test]
    fn a_large_chunk_counts_no_framing() {
        let data = vec![b'a'; 3 * MAX_FRAMING_BYTES];
        let mut raw = format!("{:x}\r\n", data.len()).into_bytes();
        raw.extend_from_slice(&data);
        raw.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(decode_whole(&raw).unwrap(), data);
    }
}
