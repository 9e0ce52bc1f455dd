//! Payload masking (RFC 6455 §5.3): XOR each payload byte `i` with `key[i % 4]`.
//!
//! Owns: the fast word-at-a-time masking loop and a byte-by-byte reference it is tested
//! against. Both take the payload position of `buf[0]`, so a payload that arrives in
//! pieces can be unmasked piece by piece.
//!
//! Does not own: where the key comes from (`codec::decode_header`) or which bytes are
//! payload (`reader`). Masking is its own inverse, so the same call masks and unmasks.

/// XOR `buf` with `key`, where `buf[0]` sits at payload position `offset` (RFC 6455 §5.3).
///
/// Eight bytes at a time through a `u64`; safe code only (`chunks_exact_mut` lets the
/// compiler drop bounds checks and vectorise).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotated(key, offset);
    let word = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // Each chunk is a multiple of 4 long, so the tail starts again at key[0].
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Plain byte-by-byte masking, the reference `apply_mask` is tested against.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

/// The key as seen from payload position `offset`: `rotated(key, o)[i] == key[(o + i) % 4]`.
#[inline]
fn rotated(mut key: [u8; 4], offset: usize) -> [u8; 4] {
    key.rotate_left(offset % 4);
    key
}

#[cfg(test)]
mod tests {
    use super::{apply_mask, apply_mask_reference};
    use proptest::prelude::*;

    #[test]
    fn rfc6455_5_3_mask_example_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut buf = *b"Hello";
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(buf, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&buf, b"Hello");
    }

    #[test]
    fn mask_resumes_mid_payload() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100u8).collect();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, rest) = pieces.split_at_mut(7);
        let (b, c) = rest.split_at_mut(30);
        apply_mask(a, key, 0);
        apply_mask(b, key, 7);
        apply_mask(c, key, 37);
        assert_eq!(whole, pieces);
    }

    proptest! {
        #[test]
        fn mask_fast_path_matches_reference(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            key in any::<[u8; 4]>(),
            offset in 0usize..8,
        ) {
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast, key, offset);
            apply_mask_reference(&mut slow, key, offset);
            prop_assert_eq!(&fast, &slow);
            apply_mask(&mut fast, key, offset);
            prop_assert_eq!(fast, data);
        }
    }
}
