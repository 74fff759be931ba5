//! `DATABASE_URL`: a `postgres://` or `postgresql://` URL with the usual
//! parameters (`sslmode`, `application_name`, `connect_timeout`, …).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A checked URL. Its `Display` and `Debug` never show the password.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
}

impl DatabaseUrl {
    /// Why `text` is not a URL this store takes, in words that never repeat
    /// the text itself (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err("is not a PostgreSQL URL: expected postgres://user:password@host:5432/database".into());
        }
        let mut config = tokio_postgres::Config::from_str(text)
            .map_err(|_| "is not a valid PostgreSQL URL (check its host, port and ?parameters)".to_string())?;
        if config.get_hosts().is_empty() {
            return Err("names no host".into());
        }
        if config.get_dbname().is_none() {
            return Err("names no database: add /DATABASE after the host".into());
        }
        if config.get_connect_timeout().is_none() {
            // A start that cannot reach the database says so instead of hanging.
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("em-metrics");
        }
        // The store's queries are short and prepared: compiling them (JIT)
        // costs more than it saves.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c jit=off"),
            None => "-c jit=off".to_string(),
        };
        config.options(&options);
        Ok(Self { config })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

impl fmt::Display for DatabaseUrl {
    /// `postgres://user@host:port/database`: enough to know which database,
    /// never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().map(|p| format!(":{p}")).unwrap_or_default();
        let user = self.config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
        let db = self.config.get_dbname().unwrap_or_default();
        write!(f, "postgres://{user}{host}{port}/{db}")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_without_its_password() {
        let url =
            DatabaseUrl::parse("postgresql://em:s3cr3t-pw@db.internal:6432/dora?sslmode=disable").expect("a good URL");
        assert_eq!(url.to_string(), "postgres://em@db.internal:6432/dora");
        assert!(!format!("{url:?}").contains("s3cr3t-pw"));
        assert_eq!(url.config().get_application_name(), Some("em-metrics"));
    }

    #[test]
    fn refusals_never_repeat_the_url() {
        for bad in [
            "mysql://em:s3cr3t-pw@db/dora",
            "postgres://em:s3cr3t-pw@db:notaport/dora",
            "postgres://em:s3cr3t-pw@db/dora?sslmode=maybe",
            "postgres://em:s3cr3t-pw@db",
            "s3cr3t-pw",
        ] {
            let why = DatabaseUrl::parse(bad).expect_err(bad);
            assert!(!why.contains("s3cr3t-pw"), "{bad}: {why}");
        }
    }
}
