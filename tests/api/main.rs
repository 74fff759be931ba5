//! Integration tests, built as one binary: every test gets its own SQLite file.

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
mod privacy;
mod receiver;
mod storage;
mod teams;
mod ui;
mod webhooks;
