//! A stable 64-bit hash (FNV-1a) for fingerprints and splits: the same bytes give the same
//! value on every machine and release, which `std`'s hashers do not promise.

/// FNV-1a: dataset fingerprints, train/validation splits, shards and review folders.
#[derive(Debug)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Hashes more bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
