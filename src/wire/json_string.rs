//! JSON strings exactly as Go's `encoding/json` writes them (HTML escaping on), for every
//! hand-written JSON document of the server: the API encoders, `metav1.Status` bodies and the
//! label sets the cluster cache keeps encoded.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that may start an escape in [`write_str`]: control characters, `"`, `\`, `<`, `>`,
/// `&`, and 0xE2 (the first byte of U+2028 and U+2029).
const MAY_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xe2] = true;
    table
};

/// Appends `s` as a JSON string exactly like Go's `encoding/json` with HTML escaping on:
/// `"`, `\`, control characters, `<`, `>`, `&`, U+2028 and U+2029 are escaped.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(skip) = bytes[start..]
        .iter()
        .position(|&b| MAY_ESCAPE[usize::from(b)])
    {
        let i = start + skip;
        out.extend_from_slice(&bytes[start..i]);
        start = i + escape(out, &bytes[i..]);
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends the escape of the byte (or U+2028/U+2029) at the start of `rest`, or the byte
/// itself when it needs none; returns how many bytes of `rest` it stood for.
fn escape(out: &mut Vec<u8>, rest: &[u8]) -> usize {
    let b = rest[0];
    let short: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0xe2 => {
            return match rest.get(1..3) {
                Some([0x80, 0xa8]) => {
                    out.extend_from_slice(b"\\u2028");
                    3
                }
                Some([0x80, 0xa9]) => {
                    out.extend_from_slice(b"\\u2029");
                    3
                }
                _ => {
                    out.push(b);
                    1
                }
            };
        }
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
            return 1;
        }
    };
    out.extend_from_slice(short);
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_go_encoding_json() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("<a&b>", r#""\u003ca\u0026b\u003e""#),
            ("\u{2028}x\u{2029}", r#""\u2028x\u2029""#),
            ("1\u{b5}s é \u{7f}", "\"1\u{b5}s é \u{7f}\""),
            // Other characters starting with 0xE2 pass through, at the end too.
            (
                "€ – \u{2027}\u{202a}x\u{2029}",
                "\"€ – \u{2027}\u{202a}x\\u2029\"",
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(escaped(input), want, "{input:?}");
            let back: String = serde_json::from_str(want).unwrap();
            assert_eq!(back, input);
        }
    }
}
