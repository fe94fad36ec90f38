//! At most one Event per APIService per interval (a minute): a change within the interval
//! waits for its end, and only the latest waiting one is sent, unless it repeats the last one
//! sent (the state went back to what was already told). Pure: the caller passes the time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often one APIService may get an Event.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Slot<E> {
    last_sent: Option<(Instant, E)>,
    waiting: Option<E>,
}

/// Events waiting for their APIService's interval to pass.
#[derive(Debug)]
pub struct EventGate<E> {
    interval: Duration,
    slots: BTreeMap<String, Slot<E>>,
}

impl<E: Clone + PartialEq> EventGate<E> {
    pub fn new(interval: Duration) -> Self {
        EventGate {
            interval,
            slots: BTreeMap::new(),
        }
    }

    /// `Some(event)` to send now, or `None` when it waits (or repeats what was last sent).
    pub fn offer(&mut self, key: &str, event: E, now: Instant) -> Option<E> {
        let slot = self.slots.entry(key.to_string()).or_insert(Slot {
            last_sent: None,
            waiting: None,
        });
        match &slot.last_sent {
            Some((at, _)) if now.saturating_duration_since(*at) < self.interval => {
                let repeats = slot.last_sent.as_ref().is_some_and(|(_, e)| *e == event);
                slot.waiting = (!repeats).then_some(event);
                None
            }
            _ => {
                slot.waiting = None;
                slot.last_sent = Some((now, event.clone()));
                Some(event)
            }
        }
    }

    /// The waiting events whose interval has passed, to send now.
    pub fn due(&mut self, now: Instant) -> Vec<(String, E)> {
        let interval = self.interval;
        let mut due = Vec::new();
        for (key, slot) in &mut self.slots {
            let ready = slot
                .last_sent
                .as_ref()
                .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= interval);
            if ready && let Some(event) = slot.waiting.take() {
                slot.last_sent = Some((now, event.clone()));
                due.push((key.clone(), event));
            }
        }
        due
    }

    /// When the next waiting event is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter(|slot| slot.waiting.is_some())
            .filter_map(|slot| slot.last_sent.as_ref().map(|(at, _)| *at + self.interval))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "v1beta1.metrics.k8s.io";
    const B: &str = "v1.metrics.k8s.io";

    #[test]
    fn the_first_event_goes_at_once_and_the_next_within_a_minute_waits() {
        let t0 = Instant::now();
        let mut gate = EventGate::new(EVENT_INTERVAL);
        assert_eq!(gate.offer(A, "down: x509", t0), Some("down: x509"));
        assert_eq!(
            gate.offer(B, "down: x509", t0),
            Some("down: x509"),
            "per APIService"
        );
        assert_eq!(
            gate.offer(A, "down: no endpoints", t0 + Duration::from_secs(10)),
            None
        );
        assert_eq!(gate.next_due(), Some(t0 + EVENT_INTERVAL));
        assert!(gate.due(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(
            gate.due(t0 + EVENT_INTERVAL),
            [(A.to_string(), "down: no endpoints")]
        );
        assert_eq!(gate.next_due(), None);
        assert!(gate.due(t0 + Duration::from_secs(600)).is_empty());
    }

    #[test]
    fn only_the_latest_waiting_event_is_sent() {
        let t0 = Instant::now();
        let mut gate = EventGate::new(EVENT_INTERVAL);
        gate.offer(A, "down: x509", t0);
        gate.offer(A, "up", t0 + Duration::from_secs(5));
        gate.offer(A, "down: no endpoints", t0 + Duration::from_secs(6));
        assert_eq!(
            gate.due(t0 + Duration::from_secs(61)),
            [(A.to_string(), "down: no endpoints")]
        );
    }

    #[test]
    fn going_back_to_what_was_told_sends_nothing_more() {
        let t0 = Instant::now();
        let mut gate = EventGate::new(EVENT_INTERVAL);
        gate.offer(A, "down: x509", t0);
        gate.offer(A, "up", t0 + Duration::from_secs(5));
        gate.offer(A, "down: x509", t0 + Duration::from_secs(6));
        assert_eq!(gate.next_due(), None);
        assert!(gate.due(t0 + Duration::from_secs(61)).is_empty());
    }

    #[test]
    fn after_a_quiet_minute_an_event_goes_at_once() {
        let t0 = Instant::now();
        let mut gate = EventGate::new(EVENT_INTERVAL);
        gate.offer(A, "down: x509", t0);
        assert_eq!(
            gate.offer(A, "up", t0 + Duration::from_secs(90)),
            Some("up")
        );
    }
}
