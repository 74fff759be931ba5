//! Where domain events go after their transaction committed.
//!
//! Handlers hand every committed [`DomainEvent`] to one [`EventSink`]; the
//! metrics module is the production sink. A trait, so tests can count
//! exactly what was reported.

use std::sync::Mutex;

use crate::domain::DomainEvent;

pub trait EventSink: Send + Sync {
    /// Called once per committed state change, never for retries or errors.
    fn record(&self, events: &[DomainEvent]);
}

/// Keeps every event, for tests.
#[derive(Default)]
pub struct Collect(Mutex<Vec<DomainEvent>>);

impl Collect {
    pub fn events(&self) -> Vec<DomainEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl EventSink for Collect {
    fn record(&self, events: &[DomainEvent]) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(events);
    }
}
