//! em-metrics: DORA metrics from deployments and incidents.
//!
//! The code tour, in the order a request travels:
//! - `main.rs` reads the settings ([`config`]: the command line, the checked
//!   settings, the OpenTelemetry part), opens the [`store`], starts
//!   [`telemetry`] and serves ([`server`]) until [`signals`] say stop.
//! - [`app`](mod@app) is the whole router: the JSON API ([`http`]) at the root and under
//!   `/api/v1`, the dashboard ([`ui`]) beside it, and the layers every answer
//!   goes through (the JSON error shape, the request log, the dashboard's
//!   headers). [`state`] is what every handler shares.
//! - [`auth`] says who may call: the credentials from settings, dashboard
//!   sessions. [`secret`] keeps secrets out of logs.
//! - [`http`] parses a request into a domain command (one module per
//!   resource; `http/webhooks.rs` for the vendors' deliveries, whose payloads
//!   [`webhooks`] reads, one module per source, `signature.rs` for who sent
//!   them) and answers in one error shape; `http/idempotency.rs` replays
//!   retried requests.
//! - [`domain`] decides every state change as a pure function returning a
//!   `Transition`: what to write, the writes it implies for other records,
//!   and the `DomainEvent`s it caused. `deployment::ship` holds the rules of
//!   a deployment going live (changes, rollbacks, rework, the incident it
//!   restores); `domain/delivery.rs` the vendor rules of a webhook delivery.
//! - [`store`] runs each decision in one transaction (load, decide, save) on
//!   the one writer thread, which commits in groups, and then records the
//!   events; it is the only module that knows SQL and SQLite.
//! - [`events`] is where committed events go; [`metrics`] turns them into
//!   the metric catalog and [`telemetry`] exports it over OTLP and `/metrics`.
//! - [`insights`] computes `/dora`, trends and breakdowns from a window's
//!   rows; [`ui`] shows the same numbers as the dashboard at `/ui`.
//! - [`teams`] maps projects and users to teams; [`demo`] writes a made-up
//!   organisation through the same store commands; [`time`] is the two
//!   accepted time forms and how times are stored; [`healthcheck`] is the
//!   container probe.
//!
//! Tests: `tests/api/` drives this router in process on a fresh database
//! each, and the real binary over HTTP; `tests/stack/` runs the deployment
//! files, the dashboards, the browser and the vendors' own tools.

pub mod app;
pub mod audit;
pub mod auth;
pub mod client_address;
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
pub mod token_cli;
pub mod ui;
pub mod webhooks;

pub use app::app;
pub use server::run;
pub use state::{AppState, Shared};
