//! Login backoff: after a few failed logins for a user from an address (or from an address for
//! any user), further attempts wait, twice as long after each new failure, up to five minutes.
//! A success clears the user's count. In memory: a restart forgets, as Grafana's does not but
//! OpenObserve's does; what it bounds is guessing speed, which a restart does not help much.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures for one user from one address before attempts must wait.
const FREE_USER_FAILURES: u32 = 5;
/// Failures from one address, over all users, before attempts must wait (password spraying).
const FREE_ADDRESS_FAILURES: u32 = 20;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Counts this old are forgotten when the table is full.
const FORGET_AFTER: Duration = Duration::from_secs(900);
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<Key, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String, IpAddr),
    Address(IpAddr),
}

/// How long after the last failure the next attempt may be made, given `count` failures of
/// which `free` cost nothing.
fn wait(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
}

impl LoginLimiter {
    /// `Err(wait)` when a login as `user` from `address` must wait that long first.
    pub(crate) fn check(&self, user: &str, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let failures = self.lock();
        let keys = [
            (Key::User(user.to_lowercase(), address), FREE_USER_FAILURES),
            (Key::Address(address), FREE_ADDRESS_FAILURES),
        ];
        let mut longest = Duration::ZERO;
        for (key, free) in keys {
            if let Some(f) = failures.get(&key) {
                let until = f.last + wait(f.count, free);
                longest = longest.max(until.saturating_duration_since(now));
            }
        }
        if longest.is_zero() {
            Ok(())
        } else {
            Err(longest)
        }
    }

    pub(crate) fn failed(&self, user: &str, address: IpAddr, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        }
        for key in [
            Key::User(user.to_lowercase(), address),
            Key::Address(address),
        ] {
            let f = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
    }

    pub(crate) fn succeeded(&self, user: &str, address: IpAddr) {
        self.lock().remove(&Key::User(user.to_lowercase(), address));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_wait_longer_each_time() {
        let limiter = LoginLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..FREE_USER_FAILURES {
            assert_eq!(limiter.check("ann", a, t0), Ok(()));
            limiter.failed("ann", a, t0);
        }
        assert_eq!(limiter.check("ann", a, t0), Err(Duration::from_secs(1)));
        assert_eq!(limiter.check("ANN", a, t0), Err(Duration::from_secs(1)));
        // Another address, another user: not held up.
        assert_eq!(limiter.check("ann", b, t0), Ok(()));
        assert_eq!(limiter.check("bob", a, t0), Ok(()));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(limiter.check("ann", a, t1), Ok(()));
        limiter.failed("ann", a, t1);
        assert_eq!(limiter.check("ann", a, t1), Err(Duration::from_secs(2)));
        limiter.succeeded("ann", a);
        assert_eq!(limiter.check("ann", a, t1), Ok(()));
    }

    #[test]
    fn many_users_from_one_address_wait_too() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..FREE_ADDRESS_FAILURES {
            limiter.failed(&format!("user{i}"), a, t0);
        }
        assert!(limiter.check("someone_else", a, t0).is_err());
    }

    #[test]
    fn the_wait_is_capped() {
        assert_eq!(wait(4, 5), Duration::ZERO);
        assert_eq!(wait(5, 5), Duration::from_secs(1));
        assert_eq!(wait(7, 5), Duration::from_secs(4));
        assert_eq!(wait(u32::MAX, 5), MAX_WAIT);
    }
}
