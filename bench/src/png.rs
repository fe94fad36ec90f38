//! A minimal PNG writer (8-bit RGB, uncompressed deflate blocks): enough for the sweep plot
//! without pulling an image crate into the build. A 960×400 plot is about 1.1 MB. flate2 writes
//! the zlib stream (with its Adler-32) and crc32fast the chunk CRCs.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// Encodes `rgb` (`width × height × 3` bytes, row-major) as a PNG file.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> std::io::Result<Vec<u8>> {
    let row = width as usize * 3;
    let mut idat = ZlibEncoder::new(Vec::new(), Compression::none());
    for line in rgb.chunks(row.max(1)) {
        idat.write_all(&[0])?; // filter: none
        idat.write_all(line)?;
    }
    let idat = idat.finish()?;
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

/// Appends a chunk: length, type, data, and the CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The chunks of `png` as (type, data), each CRC checked.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut rest = png
            .strip_prefix(b"\x89PNG\r\n\x1a\n")
            .expect("PNG signature");
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let (kind_and_data, tail) = rest[4..].split_at(4 + len);
            let crc = u32::from_be_bytes(tail[..4].try_into().unwrap());
            assert_eq!(
                crc32fast::hash(kind_and_data),
                crc,
                "CRC of {kind_and_data:.4?}"
            );
            let kind: [u8; 4] = kind_and_data[..4].try_into().unwrap();
            out.push((kind, &kind_and_data[4..]));
            rest = &tail[4..];
        }
        out
    }

    #[test]
    fn png_decodes_to_the_pixels() {
        let (width, height) = (3u32, 70_000u32 / 9);
        let rgb: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let png = encode_rgb(width, height, &rgb).unwrap();
        let chunks = chunks(&png);
        let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"IHDR", b"IDAT", b"IEND"]);
        let ihdr = chunks[0].1;
        assert_eq!(&ihdr[..4], width.to_be_bytes());
        assert_eq!(&ihdr[4..8], height.to_be_bytes());
        assert_eq!(&ihdr[8..], [8, 2, 0, 0, 0]);
        // The zlib decoder checks the stream's Adler-32.
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(chunks[1].1)
            .read_to_end(&mut raw)
            .unwrap();
        let row = width as usize * 3;
        assert_eq!(raw.len(), height as usize * (row + 1));
        for (i, line) in raw.chunks(row + 1).enumerate() {
            assert_eq!(line[0], 0, "filter byte of row {i}");
            assert_eq!(&line[1..], &rgb[i * row..(i + 1) * row], "row {i}");
        }
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND CRC");
    }

    #[test]
    fn a_corrupted_idat_fails_its_checks() {
        let png = encode_rgb(2, 2, &[255; 12]).unwrap();
        let idat = chunks(&png)[1].1.to_vec();
        let mut bad = idat.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1; // the Adler-32's last byte
        let mut raw = Vec::new();
        assert!(
            flate2::read::ZlibDecoder::new(&bad[..])
                .read_to_end(&mut raw)
                .is_err()
        );
        assert_ne!(crc32fast::hash(&bad), crc32fast::hash(&idat));
    }
}
