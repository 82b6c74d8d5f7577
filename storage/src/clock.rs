//! The clock every part of Weir reads: wall time, in µs since the Unix epoch (UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in µs since the epoch (0 if the clock is before it).
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
