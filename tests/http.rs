//! HTTP/1.1 framing as RFC 9112 requires, on both backends: a request whose body length
//! is ambiguous is refused with 400 and the connection closed, so that nothing after it
//! can be read as a smuggled request.

mod common;

use ringcast::BackendChoice;

/// Sends `request` followed by a `GET /healthz`: the server must answer the first with
/// `status` and close, never answering the second.
fn refused_and_closed(b: BackendChoice, request: &str, status: &str) {
    let server = common::start(b, 1);
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = common::http_raw(server.local_addr(), format!("{request}{smuggled}").as_bytes());
    assert!(resp.starts_with(&format!("HTTP/1.1 {status}")), "{request:?} → {resp}");
    assert!(resp.contains("Connection: close\r\n"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1").count(), 1, "a second response came: {resp}");
}

fn rfc9112_6_3_conflicting_content_length_is_400(b: BackendChoice) {
    let req = "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_6_3_conflicting_content_length_is_400);

fn rfc9112_6_1_content_length_with_transfer_encoding_is_400(b: BackendChoice) {
    let req =
        "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
               3\r\nabc\r\n0\r\n\r\n";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_6_1_content_length_with_transfer_encoding_is_400);

fn rfc9112_5_2_obs_fold_is_400(b: BackendChoice) {
    let req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n folded\r\n\r\n";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_5_2_obs_fold_is_400);

fn rfc9112_6_1_bad_transfer_encoding_is_400(b: BackendChoice) {
    for te in ["gzip, chunked", "chunked, identity", "identity"] {
        let req = format!("POST /publish/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        refused_and_closed(b, &req, "400");
    }
    let http10 = "POST /publish/t HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    refused_and_closed(b, http10, "400");
}
both_backends!(rfc9112_6_1_bad_transfer_encoding_is_400);

fn equal_repeated_content_length_and_plain_chunked_are_served(b: BackendChoice) {
    let server = common::start(b, 1);
    let twice = "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    assert!(common::http_raw(server.local_addr(), twice.as_bytes()).starts_with("HTTP/1.1 204"));
    let chunked =
        "POST /publish/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    assert!(common::http_raw(server.local_addr(), chunked.as_bytes()).starts_with("HTTP/1.1 204"));
}
both_backends!(equal_repeated_content_length_and_plain_chunked_are_served);
