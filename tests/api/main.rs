//! Integration tests, built as one binary: every test gets its own SQLite
//! file, or its own PostgreSQL database on the PostgreSQL pass (`stores`).

mod access;
mod access_binary;
mod auth;
mod bad_input;
pub mod binary;
mod changes;
mod collector;
mod demo;
mod deployments;
mod docs;
mod durability;
mod environments;
mod exporters;
mod fuzz;
mod helpers;
mod idempotency;
mod incidents;
mod insights;
mod limits;
pub mod metrics;
mod outage;
pub mod postgres;
mod privacy;
mod pull_requests;
mod receiver;
mod replicas;
mod storage;
pub mod stores;
mod teams;
mod ui;
mod webhooks;
