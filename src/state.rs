//! [`AppState`]: what every handler of the API and the dashboard shares.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::auth::{Auth, Principal};
use crate::config::WebhookSettings;
use crate::domain::{Attribution, Context, Id, Transition};
use crate::store::{Store, StoreResult, Tx};
use crate::teams::Teams;
use crate::time::Timestamp;

/// Everything a handler needs. One `Arc`: axum clones the state for every
/// middleware layer of every request, and a profile of the write path showed
/// field-by-field clones (ids, the attribution settings) at 3.5 % of its CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub store: Store,
    pub teams: Teams,
    pub auth: Arc<Auth>,
    /// The environment of events that do not name one (DEPLOYMENT_ENVIRONMENT).
    pub default_environment: Id,
    /// How incidents reported without a deployment are linked to one.
    pub attribution: Attribution,
    /// How far ahead of the server's clock a given time may be.
    pub max_clock_skew_ms: i64,
    /// What `/metrics` renders; None when EM_METRICS_PROMETHEUS=false.
    pub prometheus: Option<prometheus::Registry>,
    /// The webhook sources' secrets: a source without one answers 404.
    pub webhooks: Arc<WebhookSettings>,
    /// EM_METRICS_STORE_USERNAMES.
    pub store_usernames: bool,
    /// EM_METRICS_MIN_GROUP_SIZE: fewest distinct authors for a per-author figure.
    pub min_group_size: usize,
    /// Where authorized writes are recorded.
    pub audit: AuditLog,
}

impl Shared {
    /// The clock, who is asking, and a snapshot of the settings, taken once
    /// per request so one decision never sees two versions of the team config.
    pub fn context(&self, caller: &Principal) -> Context {
        Context {
            actor: caller.actor.clone(),
            scope: caller.scope.clone(),
            now: Timestamp::now(),
            default_environment: self.default_environment.clone(),
            teams: self.teams.get(),
            attribution: self.attribution.clone(),
            max_clock_skew_ms: self.max_clock_skew_ms,
            store_usernames: self.store_usernames,
        }
    }

    /// Runs one state change of `caller` through [`Store::apply`] with a
    /// fresh [`Context`]: load, decide, save, commit, record the events.
    pub async fn apply<T, F>(&self, caller: &Principal, step: F) -> StoreResult<Transition<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx, &Context) -> StoreResult<Transition<T>> + Send + 'static,
    {
        self.apply_with(self.context(caller), step).await
    }

    /// [`AppState::apply`] with a [`Context`] the caller already took.
    pub async fn apply_with<T, F>(&self, ctx: Context, step: F) -> StoreResult<Transition<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx, &Context) -> StoreResult<Transition<T>> + Send + 'static,
    {
        self.store.apply(move |tx| step(tx, &ctx)).await
    }
}
