//! When a failed delivery is tried again: a schedule of delays (`0s,5s,5m,30m,2h,5h,10h,10h`
//! by default, ORDER-MODEL.md's), each stretched or shrunk at random by up to a fifth so that
//! the retries of many deliveries that failed together do not arrive together.

use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// The delay before each attempt: the first is the delay before the first attempt (0s:
/// at once), and there are as many attempts as delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

pub const DEFAULT_SCHEDULE: &str = "0s,5s,5m,30m,2h,5h,10h,10h";

/// How far (as a fraction of the delay) jitter moves an attempt, either way.
const JITTER: f64 = 0.2;

impl RetrySchedule {
    /// How many attempts a delivery gets before it is given up.
    pub fn attempts(&self) -> usize {
        self.0.len()
    }

    /// The delay before attempt `step` (0-based) with jitter; None once the schedule is spent.
    pub fn delay_before(&self, step: usize) -> Option<Duration> {
        let delay = *self.0.get(step)?;
        let factor = rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER);
        Some(delay.mul_f64(factor))
    }
}

impl FromStr for RetrySchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let delays = s
            .split(',')
            .map(|d| humantime::parse_duration(d.trim()).map_err(|e| format!("{d:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 50 {
            return Err("a schedule has 1 to 50 delays".to_owned());
        }
        Ok(Self(delays))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        DEFAULT_SCHEDULE
            .parse()
            .expect("the default schedule parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_order_models_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.delay_before(0), Some(Duration::ZERO));
        assert_eq!(
            s.delay_before(7)
                .map(|d| d >= Duration::from_secs(8 * 3600)),
            Some(true)
        );
        assert_eq!(s.delay_before(8), None);
    }

    #[test]
    fn jitter_stays_within_a_fifth_and_varies() {
        let s: RetrySchedule = "0s,10s".parse().unwrap();
        let delays: Vec<Duration> = (0..200).map(|_| s.delay_before(1).unwrap()).collect();
        assert!(
            delays
                .iter()
                .all(|d| (Duration::from_secs(8)..=Duration::from_secs(12)).contains(d))
        );
        assert!(delays.iter().any(|d| *d != delays[0]), "no jitter");
    }

    #[test]
    fn a_bad_schedule_names_the_bad_delay() {
        let err = "0s,5x".parse::<RetrySchedule>().unwrap_err();
        assert!(err.contains("5x"), "{err}");
    }
}
