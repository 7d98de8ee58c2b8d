//! The standard normal distribution's upper tail, precise to a few units
//! in the last place over the range p-values need (no libm in the build).

use std::f64::consts::PI;

/// erfc(x) for x ≥ 0: a positive series for erf below 2.5 (no
/// cancellation between terms), a continued fraction above (Lentz), so the
/// result keeps its relative precision deep in the tail.
fn erfc_nonneg(x: f64) -> f64 {
    if x < 2.5 {
        // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        1.0 - 2.0 / PI.sqrt() * (-x * x).exp() * sum
    } else {
        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for k in 1..500 {
            let a = f64::from(k) / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / PI.sqrt() / f
    }
}

/// P(Z > z) for a standard normal Z.
pub fn sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let x = z.abs() / std::f64::consts::SQRT_2;
    let upper = 0.5 * erfc_nonneg(x);
    if z >= 0.0 { upper } else { 1.0 - upper }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tail_values() {
        // Values from SciPy's norm.sf.
        let cases = [
            (0.0, 0.5),
            (1.0, 0.158_655_253_931_457_07),
            (1.959_963_984_540_054, 0.025),
            (2.326_347_874_040_841, 0.009_999_999_999_999_992),
            (3.0, 0.001_349_898_031_630_093_3),
            (3.535_533_905_932_737_8, 2.034_760_087_224_789e-4),
            (3.535_392_484_576_5, 2.035_849_501_667_251_7e-4),
            (5.0, 2.866_515_718_791_933e-7),
            (10.0, 7.619_853_024_160_47e-24),
            (-1.0, 0.841_344_746_068_542_9),
        ];
        for (z, want) in cases {
            let got = sf(z);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "sf({z}) = {got:e}, want {want:e}"
            );
        }
    }
}
