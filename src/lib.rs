//! em-metrics: DORA metrics from deployments and incidents.
//!
//! A short tour, in the order a request travels:
//! - [`app`]: the whole router, the JSON API and the dashboard merged, and
//!   the layers every response goes through; [`state`] is what handlers share.
//! - [`http`]: the JSON API's routes, the error shape, and one module per
//!   resource. Handlers parse input into domain commands and nothing else.
//! - [`auth`]: who may call: the credentials from settings, dashboard sessions.
//! - [`domain`]: the rules. Each state change is decided here, as a pure
//!   function, and comes out as a `Transition` with its `DomainEvent`s.
//! - [`store`]: SQLite. Runs each decision in one transaction; also the
//!   `backup` subcommand.
//! - [`events`]: where committed events go; [`metrics`] is the production sink,
//!   the DORA metric catalog; [`telemetry`] exports it over OTLP and `/metrics`.
//! - [`insights`]: the DORA report, trend and breakdown computed from the store;
//!   [`ui`] shows them as the built-in dashboard at `/ui`.
//! - [`teams`]: the team config and how a project and user map to a team.
//! - [`config`]: settings from the environment and flags, checked at start.
//! - [`server`] serves the router; [`signals`] holds SIGTERM, SIGHUP and SIGXFSZ.
//! - [`time`]: the two accepted time forms and how times are stored.

pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod events;
pub mod healthcheck;
pub mod http;
pub mod insights;
pub mod metrics;
pub mod secret;
pub mod server;
pub mod signals;
pub mod state;
pub mod store;
pub mod teams;
pub mod telemetry;
pub mod time;
pub mod ui;
pub mod webhooks;

pub use app::app;
pub use server::run;
pub use state::AppState;
