//! SockJS server→client frames and their per-transport wrapping (spec §5, §7).
//!
//! Owns: the SockJS JSON string escaping of messages (§5.2), the frames `o`, `h`,
//! `a[...]`, `c[code,"reason"]` (§5.1), the prelude a streaming transport writes before its
//! first frame, and how each HTTP transport wraps one frame (§7.1–§7.5). Everything here is
//! pure: bytes in, bytes appended.
//!
//! Does not own: HTTP status lines, headers or chunked encoding (`statics`), deciding when a
//! frame is sent or a response ends (the session), the WebSocket framing of a frame
//! (`transport::ws`), or validating callbacks (`statics::callback`; a [`Wrap`] holds an
//! already validated one).
//!
//! Hot path: [`quote_into`] runs once per published message (encode once, DESIGN §1); it is
//! linear in the message length and copies unescaped runs in one `extend_from_slice`.

use bytes::{BufMut, Bytes, BytesMut};

/// Open frame (§5.1): first frame of every new session.
pub const OPEN: &[u8] = b"o";
/// Heartbeat frame (§5.1): sent on an attached, idle receiver.
pub const HEARTBEAT: &[u8] = b"h";

/// xhr_streaming prelude length in `h` bytes (§7.2), before its `\n`.
const XHR_STREAMING_PRELUDE_H: usize = 2048;
/// htmlfile padding in spaces after the head text (§7.4); total prelude = 1027 + len(cb).
const HTMLFILE_PADDING: usize = 653;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How a transport wraps frames (§7.6). Callbacks must already be validated
/// (`statics::callback`): they are written verbatim into HTML/JavaScript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// §7.1 xhr polling: `F\n`.
    Xhr,
    /// §7.2 xhr_streaming: prelude `h`×2048 `\n`, then `F\n`.
    XhrStreaming,
    /// §7.3 eventsource: prelude `\r\n`, then `data: F'\r\n\r\n`.
    EventSource,
    /// §7.4 htmlfile: prelude head + padding, then `<script>\np(J);\n</script>\r\n`.
    HtmlFile { callback: String },
    /// §7.5 jsonp polling: `/**/cb(J);\r\n`.
    Jsonp { callback: String },
}

/// Append `msg` as a JSON string (with quotes) using SockJS escaping (§5.2).
///
/// Escaped: C0 controls (`\b \t \n \f \r`, others `\u00XX`), `"` and `\`, U+200C–U+200F,
/// U+2028–U+202F, U+2060–U+206F, U+FFF0–U+FFFF as lowercase `\uXXXX`, and every code point
/// above U+FFFF as two lowercase surrogate escapes. Everything else, `/` included, is copied
/// as raw UTF-8. O(len(msg)).
pub fn quote_into(out: &mut BytesMut, msg: &str) {
    quote_parts_into(out, &[msg]);
}

/// [`quote_into`] of the concatenation of `parts`, without building it: escaping is per
/// character, so escaping each part in turn gives the same bytes.
pub fn quote_parts_into(out: &mut BytesMut, parts: &[&str]) {
    out.reserve(parts.iter().map(|p| p.len()).sum::<usize>() + 2);
    out.put_u8(b'"');
    for part in parts {
        escape_into(out, part);
    }
    out.put_u8(b'"');
}

/// The §5.2 escaping of `msg`, without quotes.
fn escape_into(out: &mut BytesMut, msg: &str) {
    let bytes = msg.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Only ASCII specials and lead bytes 0xE2.. (U+2000 and up) can need an escape.
        // Continuation bytes are 0x80..=0xBF, so `i` is always on a char boundary here.
        if b >= 0x20 && b != b'"' && b != b'\\' && b < 0xE2 {
            i += 1;
            continue;
        }
        let Some(c) = msg[i..].chars().next() else { break };
        let len = c.len_utf8();
        if needs_escape(c) {
            out.extend_from_slice(&bytes[run_start..i]);
            escape_char(out, c);
            run_start = i + len;
        }
        i += len;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// [`quote_into`] into a fresh buffer.
pub fn quote(msg: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(msg.len() + 2);
    quote_into(&mut out, msg);
    out.freeze()
}

/// §5.2: whether `c` is written as an escape inside a message.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '"' | '\\'
        | '\u{200c}'..='\u{200f}' | '\u{2028}'..='\u{202f}' | '\u{2060}'..='\u{206f}'
        | '\u{fff0}'..='\u{10ffff}')
}

/// Write the escape of one character that [`needs_escape`].
fn escape_char(out: &mut BytesMut, c: char) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        '\r' => out.extend_from_slice(b"\\r"),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                escape_u16(out, *unit);
            }
        }
    }
}

/// `\uXXXX` with lowercase hex (§5.2: the suite compares exact bytes).
fn escape_u16(out: &mut BytesMut, unit: u16) {
    let n = unit as usize;
    out.extend_from_slice(&[b'\\', b'u', HEX[n >> 12], HEX[(n >> 8) & 15], HEX[(n >> 4) & 15], HEX[n & 15]]);
}

/// `a[` + the already-quoted messages joined by `,` + `]` (§5.1).
pub fn messages_frame(quoted: &[Bytes]) -> Bytes {
    let len: usize = quoted.iter().map(|q| q.len() + 1).sum();
    let mut out = BytesMut::with_capacity(len + 3);
    out.extend_from_slice(b"a[");
    for (i, q) in quoted.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.extend_from_slice(q);
    }
    out.put_u8(b']');
    out.freeze()
}

/// `c[code,"reason"]` (§5.1: compact JSON, reason escaped like a message).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(reason.len() + 12);
    out.extend_from_slice(b"c[");
    out.extend_from_slice(code.to_string().as_bytes());
    out.put_u8(b',');
    quote_into(&mut out, reason);
    out.put_u8(b']');
    out.freeze()
}

/// Bytes written before the first frame on a streaming transport; empty for polling ones.
///
/// §7.2 xhr_streaming: 2048 × `h` + `\n`. §7.3 eventsource: `\r\n`. §7.4 htmlfile: head
/// text H(cb) + 653 spaces + `\r\n\r\n` (1027 + len(cb) bytes).
pub fn prelude(w: &Wrap) -> Bytes {
    match w {
        Wrap::Xhr | Wrap::Jsonp { .. } => Bytes::new(),
        Wrap::XhrStreaming => {
            let mut out = BytesMut::with_capacity(XHR_STREAMING_PRELUDE_H + 1);
            out.put_bytes(b'h', XHR_STREAMING_PRELUDE_H);
            out.put_u8(b'\n');
            out.freeze()
        }
        Wrap::EventSource => Bytes::from_static(b"\r\n"),
        Wrap::HtmlFile { callback } => htmlfile_prelude(callback),
    }
}

/// §7.4 head text H(cb), before and after the callback name. H ends at `</script>` with no
/// newline: 370 + len(cb) bytes, so that the prelude is 1027 + len(cb) as §7.4 states.
const HTMLFILE_HEAD_1: &str = "<!doctype html>\n<html><head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n    \
var c = parent.";
const HTMLFILE_HEAD_2: &str = ";\n    c.start();\n    function p(d) {c.message(d);};\n    \
window.onload = function() {c.stop();};\n  </script>";

fn htmlfile_prelude(callback: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(1027 + callback.len());
    out.extend_from_slice(HTMLFILE_HEAD_1.as_bytes());
    out.extend_from_slice(callback.as_bytes());
    out.extend_from_slice(HTMLFILE_HEAD_2.as_bytes());
    out.put_bytes(b' ', HTMLFILE_PADDING);
    out.extend_from_slice(b"\r\n\r\n");
    out.freeze()
}

/// Append frame `frame` wrapped for transport `w` (§7.1–§7.5).
///
/// * xhr, xhr_streaming: `F\n`
/// * eventsource: `data: F'\r\n\r\n`, F' = F with `%` `\r` `\n` NUL percent-escaped
/// * htmlfile: `<script>\np(J);\n</script>\r\n`, J = F as a JSON string (with `<` as `\u003c`)
/// * jsonp: `/**/cb(J);\r\n`
pub fn wrap_into(out: &mut BytesMut, w: &Wrap, frame: &[u8]) {
    match w {
        Wrap::Xhr | Wrap::XhrStreaming => {
            out.reserve(frame.len() + 1);
            out.extend_from_slice(frame);
            out.put_u8(b'\n');
        }
        Wrap::EventSource => {
            out.reserve(frame.len() + 10);
            out.extend_from_slice(b"data: ");
            percent_escape_into(out, frame);
            out.extend_from_slice(b"\r\n\r\n");
        }
        Wrap::HtmlFile { .. } => {
            out.reserve(frame.len() + 26);
            out.extend_from_slice(b"<script>\np(");
            json_string_into(out, frame, true);
            out.extend_from_slice(b");\n</script>\r\n");
        }
        Wrap::Jsonp { callback } => {
            out.reserve(frame.len() + callback.len() + 11);
            out.extend_from_slice(b"/**/");
            out.extend_from_slice(callback.as_bytes());
            out.put_u8(b'(');
            json_string_into(out, frame, false);
            out.extend_from_slice(b");\r\n");
        }
    }
}

/// §7.3: `%` → `%25`, `\r` → `%0D`, `\n` → `%0A`, NUL → `%00` (the client runs `decodeURI`).
fn percent_escape_into(out: &mut BytesMut, frame: &[u8]) {
    let mut run_start = 0;
    for (i, &b) in frame.iter().enumerate() {
        let esc: &[u8] = match b {
            b'%' => b"%25",
            b'\r' => b"%0D",
            b'\n' => b"%0A",
            0 => b"%00",
            _ => continue,
        };
        out.extend_from_slice(&frame[run_start..i]);
        out.extend_from_slice(esc);
        run_start = i + 1;
    }
    out.extend_from_slice(&frame[run_start..]);
}

/// JSON-string-of(F) for htmlfile/jsonp (§7.4, §7.5): quotes F, escaping `"`, `\` and
/// control bytes as `JSON.stringify` does; other bytes (UTF-8) are copied. A frame holds no
/// raw U+2028/U+2029 (§5.2 escaped them), so the result is also a valid JavaScript literal.
/// `escape_lt`: write `<` as `\u003c` so a message cannot close the htmlfile `<script>`
/// element (§7.4 allows it; the decoded value is unchanged).
fn json_string_into(out: &mut BytesMut, frame: &[u8], escape_lt: bool) {
    out.put_u8(b'"');
    let mut run_start = 0;
    for (i, &b) in frame.iter().enumerate() {
        let plain = b >= 0x20 && b != b'"' && b != b'\\' && !(escape_lt && b == b'<');
        if plain {
            continue;
        }
        out.extend_from_slice(&frame[run_start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => escape_u16(out, u16::from(b)),
        }
        run_start = i + 1;
    }
    out.extend_from_slice(&frame[run_start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<u8> {
        quote(s).to_vec()
    }

    fn wrap(w: &Wrap, frame: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        wrap_into(&mut out, w, frame);
        out.to_vec()
    }

    /// Reference for the §5.2 escape set, written independently of `needs_escape`.
    fn escaped_by_spec(cp: u32) -> bool {
        cp < 0x20
            || cp == 0x22
            || cp == 0x5c
            || (0x200c..=0x200f).contains(&cp)
            || (0x2028..=0x202f).contains(&cp)
            || (0x2060..=0x206f).contains(&cp)
            || cp >= 0xfff0
    }

    #[test]
    fn spec_5_2_escapes_c0_controls() {
        assert_eq!(q("\u{0}"), br#""\u0000""#);
        assert_eq!(q("\u{1}"), br#""\u0001""#);
        assert_eq!(q("\u{1f}"), br#""\u001f""#);
        assert_eq!(q("\u{8}\t\n\u{c}\r"), br#""\b\t\n\f\r""#);
    }

    #[test]
    fn spec_5_2_escapes_quote_and_backslash_not_slash() {
        assert_eq!(q("\"\\/"), br#""\"\\/""#);
        assert_eq!(q("<>&'"), br#""<>&'""#);
    }

    #[test]
    fn spec_5_2_raw_utf8_outside_escape_set() {
        for c in ['\u{7f}', '\u{80}', '\u{ad}', '\u{2000}', '\u{200b}', '\u{2030}', '\u{feff}', '\u{ffef}'] {
            let mut expected = vec![b'"'];
            expected.extend_from_slice(c.to_string().as_bytes());
            expected.push(b'"');
            assert_eq!(q(&c.to_string()), expected, "U+{:04X}", c as u32);
        }
        assert_eq!(q("\u{2000}"), b"\"\xe2\x80\x80\"");
    }

    #[test]
    fn spec_5_2_escapes_u200c_to_uffff_ranges() {
        let cases = [
            ('\u{200c}', r"\u200c"),
            ('\u{200f}', r"\u200f"),
            ('\u{2028}', r"\u2028"),
            ('\u{2029}', r"\u2029"),
            ('\u{202f}', r"\u202f"),
            ('\u{2060}', r"\u2060"),
            ('\u{206f}', r"\u206f"),
            ('\u{fff0}', r"\ufff0"),
            ('\u{ffff}', r"\uffff"),
        ];
        for (c, esc) in cases {
            assert_eq!(q(&c.to_string()), format!("\"{esc}\"").into_bytes());
        }
    }

    #[test]
    fn spec_5_2_escapes_u2028() {
        assert_eq!(q("a\u{2028}b"), br#""a\u2028b""#);
    }

    #[test]
    fn spec_5_2_astral_as_lowercase_surrogate_pair() {
        assert_eq!(q("\u{1f600}"), br#""\ud83d\ude00""#);
        assert_eq!(q("x\u{10ffff}"), br#""x\udbff\udfff""#);
    }

    /// JSONEncoding.test_xhr_server_encodes / checklist 77: every escaped code point of
    /// U+0100…U+FFFF comes back as exactly the concatenation of lowercase escapes.
    #[test]
    fn spec_5_2_xhr_server_encodes_full_range() {
        let chars: String =
            (0x100u32..=0xffff).filter(|&cp| escaped_by_spec(cp)).filter_map(char::from_u32).collect();
        let expected: String = chars.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        assert_eq!(q(&chars), format!("\"{expected}\"").into_bytes());
    }

    /// The complement: every other BMP character above U+00FF is sent raw.
    #[test]
    fn spec_5_2_unescaped_range_is_raw() {
        let chars: String =
            (0x100u32..=0xffff).filter(|&cp| !escaped_by_spec(cp)).filter_map(char::from_u32).collect();
        assert_eq!(q(&chars), format!("\"{chars}\"").into_bytes());
        let ascii: String = (0x20u8..0x80).map(char::from).filter(|&c| c != '"' && c != '\\').collect();
        assert_eq!(q(&ascii), format!("\"{ascii}\"").into_bytes());
    }

    #[test]
    fn spec_5_2_escapes_mixed_with_raw_runs() {
        assert_eq!(q("ab\"cd\u{2028}é\u{1f600}z"), "\"ab\\\"cd\\u2028é\\ud83d\\ude00z\"".as_bytes());
        assert_eq!(q(""), b"\"\"");
    }

    #[test]
    fn spec_5_1_frames() {
        assert_eq!(OPEN, b"o");
        assert_eq!(HEARTBEAT, b"h");
        assert_eq!(&messages_frame(&[quote("x"), quote("y")])[..], br#"a["x","y"]"#);
        assert_eq!(&messages_frame(&[quote("x")])[..], br#"a["x"]"#);
        assert_eq!(&close_frame(3000, "Go away!")[..], br#"c[3000,"Go away!"]"#);
        assert_eq!(
            &close_frame(2010, "Another connection still open")[..],
            br#"c[2010,"Another connection still open"]"#
        );
        assert_eq!(&close_frame(1000, "a\"b")[..], br#"c[1000,"a\"b"]"#);
    }

    #[test]
    fn spec_7_1_xhr_wraps_with_newline() {
        assert_eq!(wrap(&Wrap::Xhr, b"o"), b"o\n");
        assert_eq!(wrap(&Wrap::Xhr, br#"c[3000,"Go away!"]"#), b"c[3000,\"Go away!\"]\n");
        assert!(prelude(&Wrap::Xhr).is_empty());
    }

    #[test]
    fn spec_7_2_xhr_streaming_prelude_and_frames() {
        let p = prelude(&Wrap::XhrStreaming);
        assert_eq!(p.len(), 2049);
        assert!(p[..2048].iter().all(|&b| b == b'h'));
        assert_eq!(p[2048], b'\n');
        assert_eq!(wrap(&Wrap::XhrStreaming, b"o"), b"o\n");
        assert_eq!(wrap(&Wrap::XhrStreaming, b"h"), b"h\n");
    }

    #[test]
    fn spec_7_3_eventsource_prelude_and_frames() {
        assert_eq!(&prelude(&Wrap::EventSource)[..], b"\r\n");
        assert_eq!(wrap(&Wrap::EventSource, b"o"), b"data: o\r\n\r\n");
        assert_eq!(wrap(&Wrap::EventSource, br#"a["x"]"#), b"data: a[\"x\"]\r\n\r\n");
        let frame = messages_frame(&[quote("  \u{0}\n\r ")]);
        assert_eq!(wrap(&Wrap::EventSource, &frame), b"data: a[\"  \\u0000\\n\\r \"]\r\n\r\n");
        let frame = messages_frame(&[quote("b%c")]);
        assert_eq!(wrap(&Wrap::EventSource, &frame), b"data: a[\"b%25c\"]\r\n\r\n");
        assert_eq!(wrap(&Wrap::EventSource, b"%\r\n\0"), b"data: %25%0D%0A%00\r\n\r\n");
    }

    #[test]
    fn spec_7_4_htmlfile_prelude_is_head_plus_padding() {
        let p = prelude(&Wrap::HtmlFile { callback: "callback".into() });
        assert_eq!(p.len(), 1035);
        assert_eq!(p.len(), 1027 + "callback".len());
        let text = std::str::from_utf8(&p).unwrap_or("");
        let head = text.trim_end();
        assert!(head.starts_with("<!doctype html>\n<html><head>\n"));
        assert!(head.contains("\n    var c = parent.callback;\n    c.start();\n"));
        assert!(head.ends_with("window.onload = function() {c.stop();};\n  </script>"));
        assert!(text.ends_with(&format!("</script>{}\r\n\r\n", " ".repeat(653))));
    }

    #[test]
    fn spec_7_4_htmlfile_frames() {
        let w = Wrap::HtmlFile { callback: "callback".into() };
        assert_eq!(wrap(&w, b"o"), b"<script>\np(\"o\");\n</script>\r\n");
        assert_eq!(wrap(&w, br#"a["x"]"#), b"<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n");
        let frame = messages_frame(&[quote("</script>\\")]);
        assert_eq!(wrap(&w, &frame), b"<script>\np(\"a[\\\"\\u003c/script>\\\\\\\\\\\"]\");\n</script>\r\n");
    }

    #[test]
    fn spec_7_5_jsonp_frames() {
        let w = Wrap::Jsonp { callback: "callback".into() };
        assert!(prelude(&w).is_empty());
        assert_eq!(wrap(&w, b"o"), b"/**/callback(\"o\");\r\n");
        let w = Wrap::Jsonp { callback: "x".into() };
        assert_eq!(wrap(&w, br#"a["b"]"#), b"/**/x(\"a[\\\"b\\\"]\");\r\n");
        assert_eq!(wrap(&w, &close_frame(3000, "Go away!")), b"/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
        let frame = messages_frame(&[quote("abc"), quote("%61bc")]);
        assert_eq!(wrap(&w, &frame), b"/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n");
    }

    #[test]
    fn spec_6_3_streaming_limit_arithmetic() {
        // §6.3 example: `o\n` + 30 × `a["x…128…"]\n` = 4022 bytes; each frame is 134 bytes.
        let frame = messages_frame(&[quote(&"x".repeat(128))]);
        assert_eq!(wrap(&Wrap::XhrStreaming, &frame).len(), 134);
    }
}
