//! Seeded randomness: every run with the same `--seed` asks for the same
//! keys in the same order, so a surprising result can be replayed.

/// A small, fast generator (SplitMix64): one multiply-xorshift chain per
/// number, good enough for picking keys and far cheaper than a syscall.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole future is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in `0..n` (`n` > 0), by Lemire's multiply-shift; the bias is
    /// below 2^-32 for any `n` we use.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// SplitMix64's finalizer: a bijection that scatters nearby inputs.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Zipf over ranks `1..=n` with exponent `s`, by rejection-inversion
/// (Hörmann and Derflinger, 1996): O(1) memory and time per sample for any
/// `n`, where a precomputed table would cost 8 bytes per key.
#[derive(Debug, Clone)]
pub struct Zipf {
    s: f64,
    t: f64,
    q: f64,
}

impl Zipf {
    /// Zipf over `1..=n`; `s` must be positive and finite.
    pub fn new(n: u64, s: f64) -> Zipf {
        assert!(n >= 1 && s > 0.0 && s.is_finite());
        let n = n as f64;
        let t = if s != 1.0 {
            (n.powf(1.0 - s) - s) / (1.0 - s)
        } else {
            1.0 + n.ln()
        };
        let q = if s != 1.0 { 1.0 / (1.0 - s) } else { 1.0 };
        Zipf { s, t, q }
    }

    fn inv_cdf(&self, p: f64) -> f64 {
        let pt = p * self.t;
        if pt <= 1.0 {
            pt
        } else if self.s != 1.0 {
            (pt * (1.0 - self.s) + self.s).powf(self.q)
        } else {
            (pt - 1.0).exp()
        }
    }

    /// A rank in `1..=n`; rank 1 is the most frequent.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let inv_b = self.inv_cdf(rng.unit());
            let x = (inv_b + 1.0).floor();
            let mut ratio = x.powf(-self.s);
            if x > 1.0 {
                ratio *= inv_b.powf(self.s);
            }
            if rng.unit() < ratio {
                return x as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_stays_in_range_and_favours_low_ranks() {
        let zipf = Zipf::new(1000, 1.1);
        let mut rng = Rng::new(7);
        let mut first = 0;
        for _ in 0..20_000 {
            let rank = zipf.sample(&mut rng);
            assert!((1..=1000).contains(&rank));
            first += u32::from(rank == 1);
        }
        // P(rank 1) for s = 1.1, n = 1000 is about 0.17.
        assert!((2_500..4_500).contains(&first), "{first}");
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }
}
