//! Arrival rate of a stream: events per second over the last few whole seconds.

/// Counts per wall-clock second in a small ring, so reading the rate costs nothing on ingest.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    /// (unix second, events) per slot; a slot whose second is stale counts as zero.
    slots: [(u64, u64); RateMeter::SLOTS],
}

impl RateMeter {
    const SLOTS: usize = 16;
    /// The rate is averaged over this many whole seconds, excluding the current partial one.
    pub(crate) const WINDOW_SECS: u64 = 10;

    pub(crate) fn record(&mut self, now_sec: u64, n_events: u64) {
        let slot = &mut self.slots[(now_sec % Self::SLOTS as u64) as usize];
        if slot.0 != now_sec {
            *slot = (now_sec, 0);
        }
        slot.1 += n_events;
    }

    pub(crate) fn per_second(&self, now_sec: u64) -> f64 {
        let first = now_sec.saturating_sub(Self::WINDOW_SECS);
        let total: u64 = self
            .slots
            .iter()
            .filter(|(sec, _)| *sec >= first && *sec < now_sec)
            .map(|(_, n)| n)
            .sum();
        total as f64 / Self::WINDOW_SECS as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_whole_seconds() {
        let mut meter = RateMeter::default();
        for sec in 100..120 {
            meter.record(sec, 50);
        }
        meter.record(120, 1_000); // current, partial second: not counted yet
        assert_eq!(meter.per_second(120), 50.0);
        assert_eq!(meter.per_second(125), (5.0 * 50.0 + 1_000.0) / 10.0);
        assert_eq!(meter.per_second(200), 0.0);
    }
}
