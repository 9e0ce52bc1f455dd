//! Client→server SockJS payloads: xhr_send, jsonp_send and SockJS-WebSocket messages
//! (spec §5.3, §6.7, §8.1).
//!
//! Owns: the media-type rules of each send route, form decoding of jsonp_send, and a small
//! JSON decoder that turns a payload into application messages. The decoder accepts standard
//! JSON (RFC 8259, whitespace included), is iterative (a deeply nested hostile payload cannot
//! overflow the stack), and replaces lone surrogate escapes such as `\ud800` by U+FFFD
//! (§5.3: they cannot be a Rust `String`). Array elements that are not strings become their
//! compact JSON text (§6.7 SHOULD).
//!
//! Does not own: reading the body (the caller passes all of it), looking up the session,
//! or the HTTP responses to errors (`statics::error_500` with the [`PayloadError`] text).

/// Why a send payload was rejected; `Display` is the exact 500 body of §4.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Empty payload, wrong media type, or valid JSON that is not an array (§6.7).
    #[error("Payload expected.")]
    Expected,
    /// The payload is not valid JSON (§6.7).
    #[error("Broken JSON encoding.")]
    BrokenJson,
}

/// §6.7 xhr_send: media types (text before `;`, exact, case-sensitive) whose body is the
/// payload; an absent or empty Content-Type also qualifies.
const XHR_SEND_TYPES: [&[u8]; 6] =
    [b"", b"text/plain", b"T", b"application/json", b"application/xml", b"text/xml"];

/// Decode an xhr_send body (§6.7): allowed media type, non-empty, a JSON array.
pub fn decode_xhr_send(content_type: Option<&[u8]>, body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if !XHR_SEND_TYPES.contains(&media_type(content_type)) {
        return Err(PayloadError::Expected);
    }
    decode_array_payload(body)
}

/// Decode a jsonp_send body (§6.7): form field `d` for
/// `application/x-www-form-urlencoded`, the raw body for `text/plain` or no type.
pub fn decode_jsonp_send(content_type: Option<&[u8]>, body: &[u8]) -> Result<Vec<String>, PayloadError> {
    match media_type(content_type) {
        b"application/x-www-form-urlencoded" => {
            // §6.7: "field missing or empty (`''`, `d=`, `p=p`) → Payload expected."
            let d = form_field(body, b"d").ok_or(PayloadError::Expected)?;
            decode_array_payload(&d)
        }
        b"" | b"text/plain" => decode_array_payload(body),
        _ => Err(PayloadError::Expected),
    }
}

/// Decode one SockJS-WebSocket text message (§8.1): empty → no messages; starting with `[`
/// → the array's elements; any other valid JSON value → that one message; invalid JSON →
/// [`PayloadError::BrokenJson`] (the caller closes with 3000 `Broken framing.`).
pub fn decode_ws_message(text: &str) -> Result<Vec<String>, PayloadError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Parser::new(text);
    let messages = if text.starts_with('[') { p.array_elements()? } else { vec![p.element()?] };
    p.end()?;
    Ok(messages)
}

/// The media type: the header value (surrounding whitespace trimmed) up to its first `;`.
fn media_type(content_type: Option<&[u8]>) -> &[u8] {
    let value = content_type.unwrap_or(b"").trim_ascii();
    value.split(|&b| b == b';').next().unwrap_or(b"")
}

/// §6.7 validation table: empty → Expected; invalid JSON → BrokenJson; not an array →
/// Expected; array → its elements. Invalid UTF-8 is replaced by U+FFFD first.
fn decode_array_payload(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if body.is_empty() {
        return Err(PayloadError::Expected);
    }
    let text = String::from_utf8_lossy(body);
    let mut p = Parser::new(&text);
    p.skip_ws();
    if p.peek() != Some(b'[') {
        // Valid JSON that is not an array is "Payload expected."; garbage is broken JSON.
        p.element()?;
        p.end()?;
        return Err(PayloadError::Expected);
    }
    let messages = p.array_elements()?;
    p.end()?;
    Ok(messages)
}

/// The URL-decoded value of the first field `name` in a form body, if present and non-empty.
fn form_field(body: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    body.split(|&b| b == b'&')
        .find_map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (url_decode(k) == name).then(|| url_decode(v))
        })
        .filter(|v| !v.is_empty())
}

/// `application/x-www-form-urlencoded` value decoding: `+` → space, `%XX` → byte; a `%`
/// not followed by two hex digits is kept literally (as Node's `querystring` does).
pub(crate) fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (s.get(i + 1).and_then(hex_val), s.get(i + 2).and_then(hex_val)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_val(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// A JSON reader over a `&str`. Every method consumes what it read; errors are BrokenJson.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

type Res<T> = Result<T, PayloadError>;

const BROKEN: PayloadError = PayloadError::BrokenJson;

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Res<()> {
        if self.bump() == Some(b) {
            Ok(())
        } else {
            Err(BROKEN)
        }
    }

    /// RFC 8259 whitespace: space, tab, LF, CR.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Only whitespace may follow the top-level value.
    fn end(&mut self) -> Res<()> {
        self.skip_ws();
        if self.pos == self.s.len() {
            Ok(())
        } else {
            Err(BROKEN)
        }
    }

    /// A top-level `[...]`: each element as one message. O(len).
    fn array_elements(&mut self) -> Res<Vec<String>> {
        self.skip_ws();
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.element()?);
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => return Ok(out),
                _ => return Err(BROKEN),
            }
        }
    }

    /// One value as a message: a string's decoded text, anything else as compact JSON.
    fn element(&mut self) -> Res<String> {
        self.skip_ws();
        let mut out = String::new();
        if self.peek() == Some(b'"') {
            self.string_into(&mut out)?;
        } else {
            self.compact_value_into(&mut out)?;
        }
        Ok(out)
    }

    /// Re-emit one JSON value without insignificant whitespace, strings re-escaped.
    /// Iterative: `stack` holds, per open container, whether it is an object.
    fn compact_value_into(&mut self, out: &mut String) -> Res<()> {
        let mut stack: Vec<bool> = Vec::new();
        loop {
            self.skip_ws();
            self.open_or_scalar(out, &mut stack)?;
            // After a complete value: close containers or move to the next member.
            loop {
                let Some(&is_object) = stack.last() else { return Ok(()) };
                self.skip_ws();
                match self.bump() {
                    Some(b',') => {
                        out.push(',');
                        if is_object {
                            self.key_into(out)?;
                        }
                        break;
                    }
                    Some(b']') if !is_object => out.push(']'),
                    Some(b'}') if is_object => out.push('}'),
                    _ => return Err(BROKEN),
                }
                stack.pop();
            }
        }
    }

    /// Write a scalar, or open containers (pushing them) until the first value inside them
    /// is a scalar or an empty container, which is written whole. Loops instead of recursing.
    fn open_or_scalar(&mut self, out: &mut String, stack: &mut Vec<bool>) -> Res<()> {
        loop {
            self.skip_ws();
            let is_object = match self.peek() {
                Some(b'[') => false,
                Some(b'{') => true,
                _ => return self.scalar_into(out),
            };
            self.pos += 1;
            out.push(if is_object { '{' } else { '[' });
            self.skip_ws();
            let close = if is_object { b'}' } else { b']' };
            if self.peek() == Some(close) {
                self.pos += 1;
                out.push(close as char);
                return Ok(());
            }
            stack.push(is_object);
            if is_object {
                self.key_into(out)?;
            }
        }
    }

    /// `"key":` of an object member, re-escaped.
    fn key_into(&mut self, out: &mut String) -> Res<()> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(BROKEN);
        }
        let mut key = String::new();
        self.string_into(&mut key)?;
        write_json_string(out, &key);
        self.skip_ws();
        self.expect(b':')?;
        out.push(':');
        Ok(())
    }

    fn scalar_into(&mut self, out: &mut String) -> Res<()> {
        match self.peek() {
            Some(b'"') => {
                let mut s = String::new();
                self.string_into(&mut s)?;
                write_json_string(out, &s);
                Ok(())
            }
            Some(b't') => self.literal_into(out, "true"),
            Some(b'f') => self.literal_into(out, "false"),
            Some(b'n') => self.literal_into(out, "null"),
            Some(b'-' | b'0'..=b'9') => self.number_into(out),
            _ => Err(BROKEN),
        }
    }

    fn literal_into(&mut self, out: &mut String, lit: &str) -> Res<()> {
        if !self.s[self.pos..].starts_with(lit) {
            return Err(BROKEN);
        }
        self.pos += lit.len();
        out.push_str(lit);
        Ok(())
    }

    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, copied verbatim.
    fn number_into(&mut self, out: &mut String) -> Res<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.bump() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(BROKEN),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        out.push_str(&self.s[start..self.pos]);
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Res<()> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(BROKEN)
        } else {
            Ok(())
        }
    }

    /// Decode a JSON string (at its opening quote) into `out`. Raw control characters are
    /// invalid JSON; lone surrogate escapes become U+FFFD (§5.3).
    fn string_into(&mut self, out: &mut String) -> Res<()> {
        self.expect(b'"')?;
        let mut run_start = self.pos;
        loop {
            match self.peek() {
                None => return Err(BROKEN),
                Some(b'"') => {
                    out.push_str(&self.s[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    out.push_str(&self.s[run_start..self.pos]);
                    self.pos += 1;
                    self.escape_into(out)?;
                    run_start = self.pos;
                }
                Some(0..=0x1f) => return Err(BROKEN),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// One escape after its backslash.
    fn escape_into(&mut self, out: &mut String) -> Res<()> {
        let c = match self.bump() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => self.unicode_escape()?,
            _ => return Err(BROKEN),
        };
        out.push(c);
        Ok(())
    }

    /// After `\u`: a BMP character, a surrogate pair, or U+FFFD for a lone surrogate.
    fn unicode_escape(&mut self) -> Res<char> {
        let hi = self.hex4()?;
        if !(0xd800..0xdc00).contains(&hi) {
            // Lone low surrogates are not chars: `from_u32` fails and they become U+FFFD.
            return Ok(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        let rest = &self.s.as_bytes()[self.pos..];
        if rest.len() >= 6 && rest[0] == b'\\' && rest[1] == b'u' {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return Ok(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            // Not a low surrogate: leave that escape for the next round.
            self.pos = save;
        }
        Ok(char::REPLACEMENT_CHARACTER)
    }

    fn hex4(&mut self) -> Res<u32> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self.bump().and_then(|b| (b as char).to_digit(16)).ok_or(BROKEN)?;
            v = v << 4 | d;
        }
        Ok(v)
    }
}

/// Compact JSON string as `JSON.stringify` writes it (used for non-string elements only).
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{0}'..='\u{1f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use PayloadError::{BrokenJson, Expected};

    fn ok(v: &[&str]) -> Result<Vec<String>, PayloadError> {
        Ok(v.iter().map(|s| s.to_string()).collect())
    }

    fn xhr(ct: &str, body: &str) -> Result<Vec<String>, PayloadError> {
        decode_xhr_send(Some(ct.as_bytes()), body.as_bytes())
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    #[test]
    fn spec_6_7_empty_payload_expected() {
        assert_eq!(xhr("text/plain", ""), Err(Expected));
        assert_eq!(decode_xhr_send(None, b""), Err(Expected));
        assert_eq!(decode_jsonp_send(Some(b"text/plain"), b""), Err(Expected));
    }

    #[test]
    fn spec_6_7_broken_json() {
        assert_eq!(xhr("text/plain", "[\"x"), Err(BrokenJson));
        for bad in
            ["[", "[1,]", "[,1]", "[\"a\" \"b\"]", "{\"a\"}", "tru", "[01]", "[1.]", "[\"\\x\"]", "[]x", "  "]
        {
            assert_eq!(xhr("text/plain", bad), Err(BrokenJson), "{bad}");
        }
        assert_eq!(xhr("text/plain", "[\"a\u{1}\"]"), Err(BrokenJson));
    }

    #[test]
    fn spec_6_7_non_array_json_expected() {
        for body in ["{\"a\":1}", "\"abc\"", "5", "null", "false", "0", "\"\"", " {} "] {
            assert_eq!(xhr("text/plain", body), Err(Expected), "{body}");
        }
    }

    #[test]
    fn spec_6_7_arrays_deliver_elements() {
        assert_eq!(xhr("text/plain", "[]"), ok(&[]));
        assert_eq!(xhr("text/plain", "[\"a\"]"), ok(&["a"]));
        assert_eq!(xhr("text/plain", " \r\n\t[ \"a\" ,\n\"b\" ] \n"), ok(&["a", "b"]));
        assert_eq!(xhr("text/plain", "[\"  \\u0000\\n\\r \"]"), ok(&["  \u{0}\n\r "]));
    }

    #[test]
    fn spec_6_7_non_string_elements_as_compact_json() {
        let body = r#"[1, -2.5e+3, null, true, false, {"a" : [1, {}, []], "b\n": "\u0041"}, [ ], "s"]"#;
        assert_eq!(
            xhr("text/plain", body),
            ok(&["1", "-2.5e+3", "null", "true", "false", r#"{"a":[1,{},[]],"b\n":"A"}"#, "[]", "s"])
        );
        assert_eq!(
            xhr("text/plain", r#"[[[["x"]], {"k": {"l": [null]}}]]"#),
            ok(&[r#"[[["x"]],{"k":{"l":[null]}}]"#])
        );
    }

    #[test]
    fn spec_6_7_deep_nesting_does_not_overflow() {
        let depth = 200_000;
        let body = format!("[{}{}]", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(xhr("text/plain", &body).map(|v| v[0].len()), Ok(2 * depth));
        let unclosed = format!("[{}", "[".repeat(depth));
        assert_eq!(xhr("text/plain", &unclosed), Err(BrokenJson));
    }

    /// Checklist 23: allowed media types; 24: form-encoded is "no payload".
    #[test]
    fn spec_6_7_xhr_send_media_types() {
        for ct in [
            "text/plain",
            "T",
            "application/json",
            "application/xml",
            "",
            "application/json; charset=utf-8",
            "text/xml; charset=utf-8",
            "text/xml",
        ] {
            assert_eq!(xhr(ct, "[\"a\"]"), ok(&["a"]), "{ct}");
        }
        assert_eq!(decode_xhr_send(None, b"[\"a\"]"), ok(&["a"]));
        for ct in [FORM, "application/octet-stream", "Text/Plain", "text/plainx"] {
            assert_eq!(xhr(ct, "[\"a\"]"), Err(Expected), "{ct}");
        }
    }

    /// Checklist 51, 54.
    #[test]
    fn spec_6_7_jsonp_send_form_encoded() {
        let form = |b: &str| decode_jsonp_send(Some(FORM.as_bytes()), b.as_bytes());
        assert_eq!(form("d=%5B%22x%22%5D"), ok(&["x"]));
        assert_eq!(form("d=%5B%22x"), Err(BrokenJson));
        assert_eq!(form(""), Err(Expected));
        assert_eq!(form("d="), Err(Expected));
        assert_eq!(form("p=p"), Err(Expected));
        assert_eq!(form("d=%5B%5D"), ok(&[]));
        assert_eq!(form("p=1&d=%5B%22a+b%22%5D&q"), ok(&["a b"]));
        assert_eq!(form("d=%5B%22abc%22%5D"), ok(&["abc"]));
        assert_eq!(form("d=[\"100%\"]"), ok(&["100%"]));
        assert_eq!(
            decode_jsonp_send(Some(b"application/x-www-form-urlencoded; charset=UTF-8"), b"d=%5B%5D"),
            ok(&[])
        );
    }

    /// Checklist 55: a text/plain body is the raw payload (no `d=` stripping, no URL-decoding).
    #[test]
    fn spec_6_7_jsonp_send_text_plain_is_raw() {
        assert_eq!(decode_jsonp_send(Some(b"text/plain"), b"[\"%61bc\"]"), ok(&["%61bc"]));
        assert_eq!(decode_jsonp_send(None, b"[\"x\"]"), ok(&["x"]));
        assert_eq!(decode_jsonp_send(Some(b""), b"[\"x\"]"), ok(&["x"]));
        assert_eq!(decode_jsonp_send(Some(b"text/plain"), b"d=%5B%22z%22%5D"), Err(BrokenJson));
        assert_eq!(decode_jsonp_send(Some(b"application/json"), b"[\"x\"]"), Err(Expected));
    }

    #[test]
    fn spec_5_3_decodes_escapes_and_surrogate_pairs() {
        let body = r#"["\"\\\/\b\f\n\r\t\u00e9\u2000x\ud83d\ude00\uFFFF"]"#;
        assert_eq!(xhr("text/plain", body), ok(&["\"\\/\u{8}\u{c}\n\r\té\u{2000}x\u{1f600}\u{ffff}"]));
        assert_eq!(xhr("text/plain", "[\"😀 é\"]"), ok(&["😀 é"]));
    }

    #[test]
    fn spec_5_3_lone_surrogates_become_replacement_char() {
        assert_eq!(xhr("text/plain", r#"["\ud800"]"#), ok(&["\u{fffd}"]));
        assert_eq!(xhr("text/plain", r#"["a\udc00b"]"#), ok(&["a\u{fffd}b"]));
        assert_eq!(xhr("text/plain", r#"["\ud800\u0041"]"#), ok(&["\u{fffd}A"]));
        assert_eq!(xhr("text/plain", r#"["\ud800\ud83d\ude00"]"#), ok(&["\u{fffd}\u{1f600}"]));
        assert_eq!(xhr("text/plain", r#"["\ud800\"]"#), Err(BrokenJson));
    }

    #[test]
    fn spec_5_3_invalid_utf8_body_is_replaced() {
        assert_eq!(decode_xhr_send(None, b"[\"a\xffb\"]"), ok(&["a\u{fffd}b"]));
    }

    /// Checklist 67, 68.
    #[test]
    fn spec_8_1_websocket_messages() {
        assert_eq!(decode_ws_message(""), ok(&[]));
        assert_eq!(decode_ws_message("[]"), ok(&[]));
        assert_eq!(decode_ws_message("[\"a\"]"), ok(&["a"]));
        assert_eq!(decode_ws_message("\"single\""), ok(&["single"]));
        assert_eq!(decode_ws_message("[\"x\",\"y\"]"), ok(&["x", "y"]));
        assert_eq!(decode_ws_message("[\"a"), Err(BrokenJson));
        assert_eq!(decode_ws_message("5"), ok(&["5"]));
        assert_eq!(decode_ws_message("{\"a\": 1}"), ok(&["{\"a\":1}"]));
        assert_eq!(decode_ws_message(" [\"a\"]"), ok(&["[\"a\"]"]));
        assert_eq!(decode_ws_message("nope"), Err(BrokenJson));
        assert_eq!(decode_ws_message(" "), Err(BrokenJson));
    }

    #[test]
    fn url_decode_form_rules() {
        assert_eq!(url_decode(b"a+b%20c%2x%"), b"a b c%2x%");
        assert_eq!(url_decode(b"%63allback"), b"callback");
    }
}
