//! The phantom's random numbers: ChaCha8 seeded per specimen, so output does not depend on
//! thread count or generation order.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};

use super::geometry::{cos, ln};

/// A deterministic random source.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream for one specimen (or any other keyed purpose) of a run.
    pub fn new(seed: u64, stream: u64) -> Self {
        // SplitMix64-style mixing so neighbouring keys give unrelated seeds.
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng(ChaCha8Rng::seed_from_u64(z ^ (z >> 31)))
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Normal with the given mean and standard deviation (Box-Muller).
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        mean + sd * (-2.0 * ln(u1)).sqrt() * cos(std::f64::consts::TAU * u2)
    }

    /// An approximately standard normal value from one draw: the sum of four uniforms
    /// (Irwin-Hall), rescaled. Fast enough for per-pixel quantum noise.
    pub fn gaussian_f32(&mut self) -> f32 {
        let r = self.0.next_u64();
        let sum: u32 = (0..4).map(|k| ((r >> (16 * k)) & 0xFFFF) as u32).sum();
        // Four uniforms on [0, 1): mean 2, variance 1/3.
        (sum as f32 / 65536.0 - 2.0) * 1.732_050_8
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { ((self.uniform() * n as f64) as usize).min(n - 1) }
    }

    /// +1 or -1 with equal probability.
    pub fn sign(&mut self) -> f64 {
        if self.chance(0.5) { 1.0 } else { -1.0 }
    }

    /// A fresh 64-bit value (for deriving other streams).
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
