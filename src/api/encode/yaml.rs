//! YAML for `Accept: application/yaml`, as the apiserver writes it (sigs.k8s.io/yaml over
//! go-yaml v2): the JSON document's keys sorted, block style, sequences not indented under
//! their key, `{}`/`[]` for empty collections, strings plain unless YAML 1.1 would read them
//! as another type (then double-quoted) or they hold indicators (then single-quoted), and
//! plain or single-quoted text folded at the first space past column 80. Cold path: written
//! from a `serde_json::Value` of the JSON body.

use serde_json::Value;

/// go-yaml's line width.
const BEST_WIDTH: usize = 80;

/// The YAML form of the JSON document `json`.
pub fn from_json(json: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let value: Value = serde_json::from_slice(json)?;
    let mut out = Emitter::default();
    match &value {
        Value::Object(map) if !map.is_empty() => out.mapping(map, 0, false),
        Value::Array(items) if !items.is_empty() => out.sequence(items, 0, false),
        other => {
            out.scalar(other, 0);
            out.newline();
        }
    }
    Ok(out.text.into_bytes())
}

#[derive(Default)]
struct Emitter {
    text: String,
    /// Characters on the current line.
    column: usize,
}

impl Emitter {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.text.push('\n');
        self.column = 0;
    }

    fn indent(&mut self, indent: usize) {
        for _ in 0..indent {
            self.push(" ");
        }
    }

    /// A mapping at `indent`; `inline`: its first key goes on the current line (after `- `).
    fn mapping(&mut self, map: &serde_json::Map<String, Value>, indent: usize, inline: bool) {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.string(key, indent, false);
            self.push(":");
            match value {
                Value::Object(m) if !m.is_empty() => {
                    self.newline();
                    self.mapping(m, indent + 2, false);
                }
                Value::Array(items) if !items.is_empty() => {
                    self.newline();
                    self.sequence(items, indent, false);
                }
                scalar => {
                    self.push(" ");
                    self.scalar(scalar, indent + 2);
                    self.newline();
                }
            }
        }
    }

    /// A sequence with its dashes at `indent`.
    fn sequence(&mut self, items: &[Value], indent: usize, inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.push("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.mapping(m, indent + 2, true),
                Value::Array(a) if !a.is_empty() => self.sequence(a, indent + 2, true),
                scalar => {
                    self.scalar(scalar, indent + 2);
                    self.newline();
                }
            }
        }
    }

    /// A scalar or an empty collection; folded lines continue at `indent`.
    fn scalar(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Null => self.push("null"),
            Value::Bool(b) => self.push(if *b { "true" } else { "false" }),
            Value::Number(n) => self.push(&n.to_string()),
            Value::String(s) => self.string(s, indent, true),
            Value::Array(_) => self.push("[]"),
            Value::Object(_) => self.push("{}"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, may_fold: bool) {
        let special = s.contains(['\n', '\r']) || s.chars().any(|c| c.is_control() && c != '\t');
        if special || !resolves_to_string(s) {
            self.double_quoted(s);
        } else if plain_allowed(s) {
            self.folded(s, indent, may_fold);
        } else {
            self.push("'");
            self.folded(&s.replace('\'', "''"), indent, may_fold);
            self.push("'");
        }
    }

    /// `text` with a line break in place of the first space after column [`BEST_WIDTH`]
    /// (never two spaces, never the last one).
    fn folded(&mut self, text: &str, indent: usize, may_fold: bool) {
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let next_is_space = chars.get(i + 1).is_some_and(|n| *n == ' ');
            let prev_is_space = i > 0 && chars[i - 1] == ' ';
            if c == ' '
                && may_fold
                && self.column > BEST_WIDTH
                && !prev_is_space
                && !next_is_space
                && i + 1 < chars.len()
            {
                self.newline();
                self.indent(indent);
                continue;
            }
            let mut buf = [0u8; 4];
            self.push(c.encode_utf8(&mut buf));
        }
    }

    fn double_quoted(&mut self, s: &str) {
        self.push("\"");
        for c in s.chars() {
            match c {
                '"' => self.push("\\\""),
                '\\' => self.push("\\\\"),
                '\n' => self.push("\\n"),
                '\r' => self.push("\\r"),
                '\t' => self.push("\\t"),
                c if c.is_control() => self.push(&format!("\\x{:02X}", u32::from(c))),
                c => {
                    let mut buf = [0u8; 4];
                    self.push(c.encode_utf8(&mut buf));
                }
            }
        }
        self.push("\"");
    }
}

/// Whether go-yaml may write `s` plain in block context.
fn plain_allowed(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if first == b' ' || bytes.last() == Some(&b' ') || s.contains('\t') {
        return false;
    }
    let followed_by_blank = |i: usize| bytes.get(i + 1).is_none_or(|b| *b == b' ');
    if b"#,[]{}&*!|>'\"%@`".contains(&first) {
        return false;
    }
    if matches!(first, b'-' | b'?' | b':') && followed_by_blank(0) {
        return false;
    }
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == b':' && followed_by_blank(i) {
            return false;
        }
        if b == b'#' && bytes[i - 1] == b' ' {
            return false;
        }
    }
    true
}

/// Whether YAML 1.1 (go-yaml v2's resolver) reads the plain text `s` as a string, not a
/// null, bool, number, timestamp or sexagesimal number.
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: [&str; 36] = [
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "-.inf", "+.inf", "<<",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return true;
    }
    !(is_go_int(s)
        || s.parse::<f64>()
            .is_ok_and(|_| !s.contains(['i', 'I', 'n', 'N']))
        || is_timestamp(s)
        || is_base60(s))
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint` accepting it (with `0x`, `0o`, `0b`,
/// a leading-zero octal, underscores between digits).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    let digits = digits.replace('_', "");
    !digits.is_empty() && u64::from_str_radix(&digits, radix).is_ok()
}

/// go-yaml v2's timestamp forms: `2006-1-2`, with `T`/`t`/space and a time.
fn is_timestamp(s: &str) -> bool {
    let date = s.split(['T', 't', ' ']).next().unwrap_or("");
    let parts: Vec<&str> = date.split('-').collect();
    let date_ok = parts.len() == 3
        && parts[0].len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()));
    if !date_ok {
        return false;
    }
    let rest = &s[date.len()..];
    rest.is_empty() || rest.len() > 1 && rest[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int_part, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut groups = int_part.split(':');
    let head = groups.next().unwrap_or("");
    let rest: Vec<&str> = groups.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && rest.iter().all(|g| {
            (1..=2).contains(&g.len())
                && g.bytes().all(|b| b.is_ascii_digit())
                && (g.len() == 1 || g.as_bytes()[0] <= b'5')
        })
        && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests;
