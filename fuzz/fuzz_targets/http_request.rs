//! Fuzz the HTTP request-head parser: never panics; a parsed head never claims more
//! bytes than it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_req, used))) = ringcast::http::request::parse(data, 8192, 65536) {
        assert!(used <= data.len());
    }
});
