//! Percentiles over a set of samples.

use std::time::Duration;

/// Summary of latency samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub mean: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Summary {
    pub fn of(samples: &mut [Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        let at = |quantile: f64| {
            // Nearest-rank percentile.
            let rank = (quantile * count as f64).ceil() as usize;
            samples[rank.clamp(1, count) - 1]
        };
        Some(Summary {
            count,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
            min: samples[0],
            max: samples[count - 1],
        })
    }
}

/// Milliseconds with three decimals.
pub fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1e3)
}

/// Microseconds with one decimal.
pub fn us(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let summary = Summary::of(&mut samples).unwrap();
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.max, Duration::from_micros(100));
        assert!(Summary::of(&mut []).is_none());
    }
}
