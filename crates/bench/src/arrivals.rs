//! The requests of a run, drawn once from the seed and sent identically to every policy.
//!
//! Arrivals follow the server's load curve by time rescaling: a renewal process of unit rate
//! (exponential, gamma or evenly spaced gaps) runs in "operational time" `Lambda(t) = integral
//! of the rate`, and each point is mapped back through `Lambda^-1`. That keeps a Poisson
//! process Poisson on a ramp, and a bursty one equally bursty at every rate.

use crate::scenario::{Arrivals, BenchServer, Noise, TokenLengths};
use rand::{RngExt, SeedableRng};
use rand_distr::{Exp1, Gamma, LogNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// One request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Index of the server in the plan.
    pub server: usize,
    /// Sequence number within the server.
    pub id: u64,
    /// Arrival, scenario seconds.
    pub at: f64,
    /// Prompt tokens.
    pub prompt: u32,
    /// Output tokens (`max_tokens`).
    pub output: u32,
}

/// Step of the numeric integration of the rate, scenario seconds.
const STEP: f64 = 0.25;

/// The requests of server `index` over `[0, duration)`, in arrival order.
pub fn generate(
    index: usize,
    server: &BenchServer,
    noise: &Noise,
    duration: f64,
    seed: u64,
) -> Vec<Request> {
    // One stream per server, independent of the others and of the server count.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64 + 1),
    );
    let mut out = Vec::new();
    let mut t = 0.0;
    // Operational time still to cover until the next arrival.
    let mut need = gap(&mut rng, noise) * first_gap_fraction(&mut rng, noise);
    while t < duration {
        let rate = server.load_at(t).rpm / 60.0;
        let step = STEP.min(duration - t);
        let have = rate * step;
        if have >= need && rate > 0.0 {
            t += need / rate;
            let load = server.load_at(t);
            out.push(Request {
                server: index,
                id: out.len() as u64,
                at: t,
                prompt: tokens(&mut rng, noise, load.in_tokens),
                output: tokens(&mut rng, noise, load.out_tokens),
            });
            need = gap(&mut rng, noise);
        } else {
            need -= have;
            t += step;
        }
    }
    out
}

/// The first gap is a fraction of a whole one, so that streams do not all start at 0.
fn first_gap_fraction(rng: &mut Xoshiro256PlusPlus, noise: &Noise) -> f64 {
    match noise.arrivals {
        Arrivals::Uniform => rng.random::<f64>(),
        _ => 1.0,
    }
}

/// A unit-mean gap of the renewal process.
fn gap(rng: &mut Xoshiro256PlusPlus, noise: &Noise) -> f64 {
    match noise.arrivals {
        Arrivals::Poisson => rng.sample(Exp1),
        Arrivals::Uniform => 1.0,
        Arrivals::Gamma => {
            // Shape 1/cv^2 and scale cv^2: mean 1, coefficient of variation cv. The plan
            // checks that burstiness is positive; without a valid shape the gaps are even.
            let cv2 = noise.burstiness * noise.burstiness;
            Gamma::new(1.0 / cv2, cv2).map_or(1.0, |d| rng.sample(d))
        }
    }
}

/// A token count with mean `mean` (at least 1).
fn tokens(rng: &mut Xoshiro256PlusPlus, noise: &Noise, mean: f64) -> u32 {
    let cv = noise.tokens_cv;
    let v = match noise.tokens {
        TokenLengths::Fixed => mean,
        TokenLengths::Exponential => mean * rng.sample::<f64, _>(Exp1),
        TokenLengths::Uniform => {
            // Uniform on [mean (1 - w), mean (1 + w)] has cv w / sqrt(3).
            let w = (cv * 3f64.sqrt()).min(1.0);
            mean * (1.0 - w + 2.0 * w * rng.random::<f64>())
        }
        // A mean that is not positive has no log-normal: it rounds up to 1 token like the rest.
        TokenLengths::Lognormal => {
            LogNormal::from_mean_cv(mean, cv).map_or(mean, |d| rng.sample(d))
        }
    };
    v.round().clamp(1.0, 1e6) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Seconds;
    use crate::scenario::{Phase, Shape};

    fn server(phases: Vec<Phase>) -> BenchServer {
        crate::plan::tests::test_server(600.0, phases)
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn poisson_stream_keeps_the_rate_and_is_reproducible() {
        let s = server(vec![]);
        let noise = Noise::default();
        let a = generate(0, &s, &noise, 600.0, 7);
        let b = generate(0, &s, &noise, 600.0, 7);
        assert_eq!(a, b);
        // 10 per second for 600 s: 6000 +- 4 sigma (sigma ~ 77).
        assert!((a.len() as f64 - 6000.0).abs() < 310.0, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        assert_ne!(
            a,
            generate(1, &s, &noise, 600.0, 7),
            "servers get their own streams"
        );
    }

    #[test]
    fn a_ramp_raises_the_arrival_rate() {
        let s = server(vec![
            Phase {
                length: Seconds(300.0),
                multiplier: Some(1.0),
                shape: Shape::Step,
                in_tokens: None,
                out_tokens: None,
            },
            Phase {
                length: Seconds(0.0),
                multiplier: Some(3.0),
                shape: Shape::Step,
                in_tokens: None,
                out_tokens: None,
            },
        ]);
        let a = generate(0, &s, &Noise::default(), 600.0, 1);
        let first = a.iter().filter(|r| r.at < 300.0).count() as f64;
        let second = a.iter().filter(|r| r.at >= 300.0).count() as f64;
        assert!((second / first - 3.0).abs() < 0.3, "{first} {second}");
    }

    #[test]
    fn bursty_gaps_have_the_requested_variation() {
        let s = server(vec![]);
        let noise = Noise {
            arrivals: Arrivals::Gamma,
            burstiness: 2.0,
            ..Noise::default()
        };
        let a = generate(0, &s, &noise, 3000.0, 3);
        let gaps: Vec<f64> = a.windows(2).map(|w| w[1].at - w[0].at).collect();
        let m = mean(&gaps);
        let sd = (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((m - 0.1).abs() < 0.01, "mean gap {m}");
        // The rate integration quantises gaps only below STEP, so the cv survives.
        assert!((sd / m - 2.0).abs() < 0.3, "cv {}", sd / m);
    }

    #[test]
    fn token_lengths_have_the_mean() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        for kind in [
            TokenLengths::Fixed,
            TokenLengths::Uniform,
            TokenLengths::Exponential,
            TokenLengths::Lognormal,
        ] {
            let noise = Noise {
                tokens: kind,
                tokens_cv: 0.5,
                ..Noise::default()
            };
            let v: Vec<f64> = (0..20_000)
                .map(|_| f64::from(tokens(&mut rng, &noise, 500.0)))
                .collect();
            assert!((mean(&v) - 500.0).abs() < 15.0, "{kind:?}: {}", mean(&v));
        }
    }
}
