//! The per-source throttle in front of the per-account lockout: each client address may
//! try `login_rate_per_minute` passwords a minute (whatever the accounts), so one
//! source can neither cheaply lock a victim's account nor fill the hashing pool and
//! turn everyone else's login into "busy". Kept in memory per instance (`governor`'s
//! keyed GCRA limiter); idle addresses are forgotten by housekeeping.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Throttle {
    attempts: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// One `login.throttled` audit event per source and minute, so a flood does not
    /// write a flood of events.
    audits: DefaultKeyedRateLimiter<IpAddr>,
}

/// What the throttle says about one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; `audit` is true for the first refusal of a source in a minute.
    Throttled {
        audit: bool,
    },
}

impl Throttle {
    /// `per_minute` attempts per source a minute, all of them at once at most; 0: off.
    pub fn new(per_minute: u32) -> Self {
        let one = NonZeroU32::MIN;
        Self {
            attempts: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            audits: RateLimiter::keyed(Quota::per_minute(one)),
        }
    }

    pub fn check(&self, source: IpAddr) -> Verdict {
        match &self.attempts {
            Some(limiter) if limiter.check_key(&source).is_err() => Verdict::Throttled {
                audit: self.audits.check_key(&source).is_ok(),
            },
            _ => Verdict::Allowed,
        }
    }

    /// Forgets sources whose allowance is full again (memory stays proportional to the
    /// sources of the last minute).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.attempts {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.audits.retain_recent();
        self.audits.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_has_its_own_allowance() {
        let throttle = Throttle::new(3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(throttle.check(a), Verdict::Allowed);
        }
        assert_eq!(throttle.check(a), Verdict::Throttled { audit: true });
        assert_eq!(throttle.check(a), Verdict::Throttled { audit: false });
        assert_eq!(throttle.check(b), Verdict::Allowed);
        assert_eq!(Throttle::new(0).check(a), Verdict::Allowed);
    }
}
