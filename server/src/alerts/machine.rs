//! The state machine of one alert instance: what an evaluation says of it (an [`Observation`])
//! and the clock move it between Normal, Pending, Firing, Recovering, NoData and Error.
//!
//! Time only matters for `for` and `keep_firing_for`; each is a deadline ([`Machine::deadline`])
//! at which [`Machine::tick`] moves the instance, stamped with the deadline itself, so that the
//! same observations give the same transitions whether the clock is the wall's (live rules) or
//! the events' (backtests), however late the tick comes.

use protocol::alert::{ErrorPolicy, NoDataPolicy, State};

/// How a rule's instances move: its `for`, `keep_firing_for` (µs) and policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) pending: i64,
    pub(crate) keep_firing: i64,
    pub(crate) no_data: NoDataPolicy,
    pub(crate) on_error: ErrorPolicy,
}

/// What one evaluation says of an instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observation {
    /// The condition holds.
    Alerting,
    /// The condition does not hold, or the instance's row is gone.
    Normal,
    /// The query has no value for it.
    NoData,
    /// The query failed.
    Error(String),
}

/// One instance: its state, since when, and since when it fires.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Machine {
    pub(crate) state: State,
    /// When it entered `state`, µs.
    pub(crate) since: i64,
    /// When it started firing (kept through Recovering; the notifications' `startsAt`).
    pub(crate) fired_at: Option<i64>,
    pub(crate) reason: String,
}

/// A move of one instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) time: i64,
    pub(crate) reason: String,
    /// When it started firing: the new firing start, or the one it had when it resolves.
    pub(crate) fired_at: Option<i64>,
}

/// What an observation means under the rule's policies.
enum Effective {
    Alerting,
    Normal,
    Enter(State, String),
    Keep,
}

fn effective(observation: Observation, timing: &Timing) -> Effective {
    match observation {
        Observation::Alerting => Effective::Alerting,
        Observation::Normal => Effective::Normal,
        Observation::NoData => match timing.no_data {
            NoDataPolicy::NoData => Effective::Enter(State::NoData, "no data".to_owned()),
            NoDataPolicy::Alerting => Effective::Alerting,
            NoDataPolicy::Ok => Effective::Normal,
            NoDataPolicy::KeepLast => Effective::Keep,
        },
        Observation::Error(reason) => match timing.on_error {
            ErrorPolicy::Error => Effective::Enter(State::Error, reason),
            ErrorPolicy::Alerting => Effective::Alerting,
            ErrorPolicy::Ok => Effective::Normal,
            ErrorPolicy::KeepLast => Effective::Keep,
        },
    }
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new(0)
    }
}

impl Machine {
    /// A Normal instance since `now`.
    pub(crate) fn new(now: i64) -> Machine {
        Machine {
            state: State::Normal,
            since: now,
            fired_at: None,
            reason: String::new(),
        }
    }

    /// When the clock alone would move it next.
    pub(crate) fn deadline(&self, timing: &Timing) -> Option<i64> {
        match self.state {
            State::Pending => Some(self.since + timing.pending),
            State::Recovering => Some(self.since + timing.keep_firing),
            _ => None,
        }
    }

    /// Moves it as the clock says at `now`: Pending fires, Recovering resolves, at the deadline.
    pub(crate) fn tick(&mut self, now: i64, timing: &Timing) -> Option<Step> {
        let deadline = self.deadline(timing)?;
        if now < deadline {
            return None;
        }
        match self.state {
            State::Pending => {
                let reason = format!(
                    "the condition held for {}",
                    protocol::dashboard::time::format_duration(timing.pending.max(1))
                );
                Some(self.enter(State::Firing, deadline, reason))
            }
            State::Recovering => {
                let reason = "kept firing for keep_firing_for, then resolved".to_owned();
                Some(self.enter(State::Normal, deadline, reason))
            }
            _ => None,
        }
    }

    /// Applies an evaluation at `now` (the clock first, then the observation): zero, one or two
    /// steps.
    pub(crate) fn observe(
        &mut self,
        observation: Observation,
        reason: &dyn Fn() -> String,
        now: i64,
        timing: &Timing,
    ) -> Vec<Step> {
        let mut steps: Vec<Step> = self.tick(now, timing).into_iter().collect();
        let step = match effective(observation, timing) {
            Effective::Keep => None,
            Effective::Alerting => match self.state {
                State::Normal | State::NoData | State::Error if timing.pending > 0 => {
                    Some(self.enter(State::Pending, now, reason()))
                }
                State::Normal | State::NoData | State::Error => {
                    Some(self.enter(State::Firing, now, reason()))
                }
                State::Recovering => Some(self.enter(State::Firing, now, reason())),
                State::Pending | State::Firing => None,
            },
            Effective::Normal => match self.state {
                State::Firing if timing.keep_firing > 0 => {
                    Some(self.enter(State::Recovering, now, reason()))
                }
                State::Firing | State::Pending | State::NoData | State::Error => {
                    Some(self.enter(State::Normal, now, reason()))
                }
                State::Recovering | State::Normal => None,
            },
            Effective::Enter(state, why) => {
                if self.state == state {
                    self.reason = why;
                    None
                } else {
                    Some(self.enter(state, now, why))
                }
            }
        };
        steps.extend(step);
        steps
    }

    /// Puts it in `to` whatever the rule says (a paused or deleted rule's instances resolve).
    pub(crate) fn force(&mut self, to: State, now: i64, reason: &str) -> Step {
        self.enter(to, now, reason.to_owned())
    }

    fn enter(&mut self, to: State, time: i64, reason: String) -> Step {
        let from = self.state;
        let before = self.fired_at;
        if !to.is_active() {
            self.fired_at = None;
        } else if !from.is_active() {
            self.fired_at = Some(time);
        }
        self.state = to;
        self.since = time;
        self.reason.clone_from(&reason);
        Step {
            from,
            to,
            time,
            reason,
            fired_at: self.fired_at.or(before),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The reference: time moves one unit at a time, and counters say how long the instance has
    /// been pending or recovering. No deadlines, no catching up.
    struct Model {
        state: State,
        pending_for: i64,
        recovering_for: i64,
        steps: Vec<(State, State, i64)>,
    }

    impl Model {
        fn set(&mut self, to: State, t: i64) {
            if self.state != to {
                self.steps.push((self.state, to, t));
                self.state = to;
                self.pending_for = 0;
                self.recovering_for = 0;
            }
        }

        /// The clock reaches `t` (one unit after the last).
        fn clock(&mut self, t: i64, timing: &Timing) {
            match self.state {
                State::Pending => {
                    self.pending_for += 1;
                    if self.pending_for >= timing.pending {
                        self.set(State::Firing, t);
                    }
                }
                State::Recovering => {
                    self.recovering_for += 1;
                    if self.recovering_for >= timing.keep_firing {
                        self.set(State::Normal, t);
                    }
                }
                _ => {}
            }
        }

        fn observe(&mut self, o: &Observation, t: i64, timing: &Timing) {
            let alerting = || (State::Pending, State::Firing);
            let target = match o {
                Observation::Alerting => Some(true),
                Observation::Normal => Some(false),
                Observation::NoData => match timing.no_data {
                    NoDataPolicy::NoData => return self.set(State::NoData, t),
                    NoDataPolicy::Alerting => Some(true),
                    NoDataPolicy::Ok => Some(false),
                    NoDataPolicy::KeepLast => None,
                },
                Observation::Error(_) => match timing.on_error {
                    ErrorPolicy::Error => return self.set(State::Error, t),
                    ErrorPolicy::Alerting => Some(true),
                    ErrorPolicy::Ok => Some(false),
                    ErrorPolicy::KeepLast => None,
                },
            };
            match (target, self.state) {
                (None, _) => {}
                (Some(true), State::Recovering) => self.set(State::Firing, t),
                (Some(true), State::Pending | State::Firing) => {}
                (Some(true), _) => {
                    let (pending, firing) = alerting();
                    self.set(if timing.pending == 0 { firing } else { pending }, t);
                }
                (Some(false), State::Firing) if timing.keep_firing > 0 => {
                    self.set(State::Recovering, t)
                }
                (Some(false), State::Recovering) => {}
                (Some(false), _) => self.set(State::Normal, t),
            }
        }
    }

    fn observation() -> impl Strategy<Value = Observation> {
        prop_oneof![
            4 => Just(Observation::Alerting),
            4 => Just(Observation::Normal),
            1 => Just(Observation::NoData),
            1 => Just(Observation::Error("boom".to_owned())),
        ]
    }

    fn timing() -> impl Strategy<Value = Timing> {
        let no_data = prop_oneof![
            Just(NoDataPolicy::NoData),
            Just(NoDataPolicy::Alerting),
            Just(NoDataPolicy::Ok),
            Just(NoDataPolicy::KeepLast)
        ];
        let on_error = prop_oneof![
            Just(ErrorPolicy::Error),
            Just(ErrorPolicy::Alerting),
            Just(ErrorPolicy::Ok),
            Just(ErrorPolicy::KeepLast)
        ];
        (0i64..6, 0i64..6, no_data, on_error).prop_map(
            |(pending, keep_firing, no_data, on_error)| Timing {
                pending,
                keep_firing,
                no_data,
                on_error,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Random observations at random times, the machine ticked only now and then: its
        /// transitions (with their times) are the model's, which steps every unit of time.
        #[test]
        fn the_machine_moves_as_the_model(
            timing in timing(),
            events in proptest::collection::vec(
                (1i64..4, proptest::option::of(observation()), any::<bool>()), 1..60),
        ) {
            let mut machine = Machine::new(0);
            let mut model = Model {
                state: State::Normal, pending_for: 0, recovering_for: 0, steps: Vec::new()
            };
            let mut steps = Vec::new();
            let mut t = 0;
            for (gap, observation, tick) in events {
                for _ in 0..gap {
                    t += 1;
                    model.clock(t, &timing);
                }
                if tick {
                    steps.extend(machine.tick(t, &timing));
                }
                if let Some(o) = observation {
                    model.observe(&o, t, &timing);
                    steps.extend(machine.observe(o, &String::new, t, &timing));
                }
                // The machine as of `t`, had it been ticked then.
                let mut probe = machine.clone();
                probe.tick(t, &timing);
                prop_assert_eq!(probe.state, model.state, "at {}", t);
            }
            for _ in 0..10 {
                t += 1;
                model.clock(t, &timing);
            }
            steps.extend(machine.tick(t, &timing));
            let steps: Vec<_> = steps.iter().map(|s| (s.from, s.to, s.time)).collect();
            prop_assert_eq!(steps, model.steps.clone());
            prop_assert_eq!(machine.state, model.state);
            // Firing and Recovering always know when they started firing.
            prop_assert_eq!(
                machine.fired_at.is_some(),
                machine.state.is_active(),
                "{:?}", machine
            );
        }
    }

    #[test]
    fn for_fires_at_its_deadline_even_when_the_tick_is_late() {
        let timing = Timing {
            pending: 60,
            keep_firing: 30,
            no_data: NoDataPolicy::NoData,
            on_error: ErrorPolicy::Error,
        };
        let mut m = Machine::new(0);
        let s = m.observe(Observation::Alerting, &|| "x > 1".into(), 10, &timing);
        assert_eq!((s[0].to, s[0].time), (State::Pending, 10));
        assert_eq!(m.deadline(&timing), Some(70));
        assert!(m.tick(69, &timing).is_none());
        let s = m.observe(Observation::Normal, &|| "ok".into(), 100, &timing);
        let moves: Vec<_> = s.iter().map(|s| (s.to, s.time)).collect();
        assert_eq!(moves, [(State::Firing, 70), (State::Recovering, 100)]);
        assert_eq!(m.fired_at, Some(70));
        let s = m.tick(200, &timing).unwrap();
        assert_eq!((s.to, s.time), (State::Normal, 130));
        assert_eq!(m.fired_at, None);
    }
}
