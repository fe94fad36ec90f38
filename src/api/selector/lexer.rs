//! The label-selector lexer, a port of apimachinery `labels.Lexer`: whitespace separates,
//! `= == != ! ( ) , > <` are operators, `in`/`notin` keywords, anything else an identifier.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token {
    End,
    ClosedPar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

impl Token {
    /// The literal upstream puts in `found '…'` messages.
    pub(super) fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::Not => "!",
            Token::DoubleEquals => "==",
            Token::Equals => "=",
            Token::GreaterThan => ">",
            Token::Identifier(s) => s,
            Token::In => "in",
            Token::LessThan => "<",
            Token::NotEquals => "!=",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
        }
    }

    /// In value context `in`/`notin` are plain identifiers (`Parser.lookahead(Values)`).
    pub(super) fn is_identifier(&self) -> bool {
        matches!(self, Token::Identifier(_) | Token::In | Token::NotIn)
    }
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The whole token stream, ending with `Token::End`.
pub(super) fn lex(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let Some(&c) = b.get(i) else { break };
        if is_special(c) {
            let two = b.get(i..i + 2);
            let (token, len) = match (c, two) {
                (_, Some(b"!=")) => (Token::NotEquals, 2),
                (_, Some(b"==")) => (Token::DoubleEquals, 2),
                (b'=', _) => (Token::Equals, 1),
                (b'!', _) => (Token::Not, 1),
                (b'(', _) => (Token::OpenPar, 1),
                (b')', _) => (Token::ClosedPar, 1),
                (b',', _) => (Token::Comma, 1),
                (b'>', _) => (Token::GreaterThan, 1),
                _ => (Token::LessThan, 1),
            };
            tokens.push(token);
            i += len;
            continue;
        }
        let start = i;
        while i < b.len() && !is_special(b[i]) && !is_space(b[i]) {
            i += 1;
        }
        tokens.push(match &text[start..i] {
            "in" => Token::In,
            "notin" => Token::NotIn,
            word => Token::Identifier(word.to_owned()),
        });
    }
    tokens.push(Token::End);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Token {
        Token::Identifier(s.to_owned())
    }

    #[test]
    fn tokenises_like_upstream() {
        let got = lex(" !a,b!=c ,d notin (in),e===f\tg>1<2");
        let want = [
            Token::Not,
            id("a"),
            Token::Comma,
            id("b"),
            Token::NotEquals,
            id("c"),
            Token::Comma,
            id("d"),
            Token::NotIn,
            Token::OpenPar,
            Token::In,
            Token::ClosedPar,
            Token::Comma,
            id("e"),
            Token::DoubleEquals,
            Token::Equals,
            id("f"),
            id("g"),
            Token::GreaterThan,
            id("1"),
            Token::LessThan,
            id("2"),
            Token::End,
        ];
        assert_eq!(got, want);
        assert_eq!(lex(""), [Token::End]);
    }
}
