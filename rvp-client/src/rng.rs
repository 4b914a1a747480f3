//! A small deterministic generator (SplitMix64) for conversation GUIDs and Digest cnonces.
//!
//! The session core never reads a random source: the embedder seeds it
//! ([`SessionConfig::seed`](crate::SessionConfig::seed)), so runs are reproducible in tests.
//! Nothing it produces is a secret (`Session-Id` GUIDs and cnonces are sent in clear).

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A version-4-shaped GUID value.
    pub(crate) fn guid(&mut self) -> u128 {
        let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        // Version 4, variant 10xx.
        (v & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
    }

    /// 16 hex digits.
    pub(crate) fn cnonce(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let g = a.guid();
        assert_eq!((g >> 76) & 0xF, 4);
        assert_eq!((g >> 62) & 0x3, 2);
        assert_eq!(a.cnonce().len(), 16);
    }
}
