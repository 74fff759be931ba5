//! The PostgreSQL store, for organisations that run several replicas on one
//! managed database. Chosen by `DATABASE_URL`.
//!
//! Here: the URL (checked, and shown only with its password removed), the
//! schema and its migrations under an advisory lock, the store's
//! connections (`session`), and `copy` from the SQLite store. The store's
//! commands and queries are the same as on SQLite (see `store::sql`).

mod copy;
mod migrations;
mod session;
mod tls;
mod url;

pub use copy::{copy_from_sqlite, Copied};
pub use migrations::{apply as migrate, latest_version};
pub(crate) use session::{Driver, Readers, Writer, PING_TIMEOUT};
pub use url::DatabaseUrl;

/// Connects once, with the connection driven on the current runtime; with
/// TLS when the URL says `sslmode=require` (see `tls`).
pub async fn connect(url: &DatabaseUrl) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tls::connect(url.config()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %reason(&e), "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// An error of the driver, with its cause: tokio-postgres's own message for a
/// refused connection is only "error connecting to server". Neither carries
/// the password: the driver never puts it in a message.
pub fn reason(err: &tokio_postgres::Error) -> String {
    match std::error::Error::source(err) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}
