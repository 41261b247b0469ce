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

/// A file's SHA-256 as 64 lowercase hex digits: how a model is named in provenance and reports.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
