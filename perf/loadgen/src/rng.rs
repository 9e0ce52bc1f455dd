//! A tiny xorshift64* generator for WebSocket keys, masking keys and SockJS session ids.
//! Not cryptographic: a load generator only needs masks that are not constant.

use std::time::{SystemTime, UNIX_EPOCH};

/// xorshift64* state; never zero.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds from the wall clock and the process id.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Self::seeded(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// A generator with a fixed seed (zero is replaced by a constant).
    pub fn seeded(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// `len` random lowercase ASCII letters.
    pub fn letters(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b'a' + (self.next_u64() % 26) as u8)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_seed_still_moves() {
        let mut rng = Rng::seeded(0);
        assert_ne!(rng.next_u64(), rng.next_u64());
    }

    #[test]
    fn letters_are_lowercase() {
        let s = Rng::seeded(7).letters(64);
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b.is_ascii_lowercase()));
    }
}
