//! The validated settings the server runs with.

use std::path::PathBuf;
use std::time::Duration;

use super::access::AccessSettings;
use super::cli::RawSettings;
use super::otel::{metrics_settings, MetricsSettings};
use super::{duration_ms, secret, truthy, StartupError};
use crate::domain::{Attribution, Id};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which credentials the API accepts.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Only when EM_METRICS_NO_AUTH is truthy.
    pub disabled: bool,
    pub token: Option<Secret>,
    pub basic: Option<(Secret, Secret)>,
}
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub sqlite_db: PathBuf,
    /// DATABASE_URL: the PostgreSQL store, in place of SQLITE_DB.
    pub database_url: Option<crate::store::postgres::DatabaseUrl>,
    pub config: Option<PathBuf>,
    pub default_environment: Id,
    pub auth: AuthSettings,
    pub log_format: LogFormat,
    pub metrics: MetricsSettings,
    pub attribution: Attribution,
    pub max_clock_skew_ms: i64,
    pub write_timeout: Duration,
    pub webhooks: WebhookSettings,
    /// Events older than this are deleted; None keeps everything.
    pub retention: Option<Duration>,
    /// Whether deployments keep their username.
    pub store_usernames: bool,
    /// EM_METRICS_MIN_GROUP_SIZE.
    pub min_group_size: usize,
    /// The public URL, trusted proxies, the dashboard's sign-in methods.
    pub access: AccessSettings,
}

/// The webhook sources: each is enabled by its secret.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    pub github_secret: Option<Secret>,
    pub gitlab_token: Option<Secret>,
    pub pagerduty_secret: Option<Secret>,
    /// A Standard Webhooks `whsec_` secret, checked to be base64 at start.
    pub incident_io_secret: Option<Secret>,
    pub incident_io_project_field: String,
    pub grafana_secret: Option<Secret>,
}

impl WebhookSettings {
    /// The secret that enables `source` (Grafana's, for Alertmanager: optional).
    pub fn secret(&self, source: crate::webhooks::Source) -> Option<&Secret> {
        use crate::webhooks::Source;
        match source {
            Source::Github => self.github_secret.as_ref(),
            Source::Gitlab => self.gitlab_token.as_ref(),
            Source::Pagerduty => self.pagerduty_secret.as_ref(),
            Source::IncidentIo => self.incident_io_secret.as_ref(),
            Source::Alertmanager => self.grafana_secret.as_ref(),
        }
    }

    fn from_raw(raw: &RawSettings) -> Result<Self, StartupError> {
        let incident_io_secret =
            secret("EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET", raw.incident_io_webhook_secret.as_deref())?;
        if let Some(s) = &incident_io_secret {
            // Never echo the value: only say what is wrong with it.
            if standardwebhooks::Webhook::new(s.expose()).is_err() {
                return Err(StartupError::new(
                    "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET",
                    "is not a Standard Webhooks secret: expected `whsec_` followed by base64, as incident.io shows it",
                ));
            }
        }
        let field = raw.incident_io_project_field.trim();
        Ok(Self {
            github_secret: secret("EM_METRICS_GITHUB_WEBHOOK_SECRET", raw.github_webhook_secret.as_deref())?,
            gitlab_token: secret("EM_METRICS_GITLAB_WEBHOOK_TOKEN", raw.gitlab_webhook_token.as_deref())?,
            pagerduty_secret: secret("EM_METRICS_PAGERDUTY_WEBHOOK_SECRET", raw.pagerduty_webhook_secret.as_deref())?,
            incident_io_secret,
            incident_io_project_field: if field.is_empty() { "Affected service".into() } else { field.into() },
            grafana_secret: secret("EM_METRICS_GRAFANA_WEBHOOK_SECRET", raw.grafana_webhook_secret.as_deref())?,
        })
    }
}

impl Settings {
    pub fn from_raw(raw: RawSettings) -> Result<Self, StartupError> {
        let port = raw
            .port
            .trim()
            .parse::<u16>()
            .map_err(|_| StartupError::new("PORT", format!("`{}` is not a port number (0 to 65535)", raw.port)))?;
        if raw.host.trim().is_empty() {
            return Err(StartupError::new("HOST", "must not be empty"));
        }
        if raw.sqlite_db.as_os_str().is_empty() {
            return Err(StartupError::new("SQLITE_DB", "must not be empty"));
        }
        let database_url = database_url(&raw)?;
        let default_environment = Id::parse(raw.deployment_environment.trim())
            .map_err(|why| StartupError::new("DEPLOYMENT_ENVIRONMENT", why))?;
        let log_format = match raw.log_format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(StartupError::new("LOG_FORMAT", format!("`{other}` is not `text` or `json`"))),
        };
        let metrics = metrics_settings(&raw, &default_environment)?;
        let attribution = attribution_settings(&raw.attribution_window, &raw.production_environments)?;
        let max_clock_skew_ms = duration_ms("EM_METRICS_MAX_CLOCK_SKEW", &raw.max_clock_skew, "1h or 10m")?;
        let write_timeout_ms = duration_ms("EM_METRICS_WRITE_TIMEOUT", &raw.write_timeout, "5s or 500ms")?;
        if write_timeout_ms <= 0 {
            return Err(StartupError::new("EM_METRICS_WRITE_TIMEOUT", "must be more than 0"));
        }
        let retention = match raw.retention.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(text) => {
                let ms = duration_ms("EM_METRICS_RETENTION", text, "730d or 90d")?;
                if ms < crate::store::MIN_RETENTION.as_millis() as i64 {
                    return Err(StartupError::new(
                        "EM_METRICS_RETENTION",
                        format!("`{text}` is shorter than a day; unset it to keep everything"),
                    ));
                }
                Some(Duration::from_millis(ms as u64))
            }
        };
        let store_usernames = truthy(&raw.store_usernames).ok_or_else(|| {
            StartupError::new("EM_METRICS_STORE_USERNAMES", format!("`{}` is not true or false", raw.store_usernames))
        })?;
        let min_group_size = raw.min_group_size.trim().parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            StartupError::new(
                "EM_METRICS_MIN_GROUP_SIZE",
                format!("`{}` is not a whole number of at least 1", raw.min_group_size),
            )
        })?;
        Ok(Self {
            min_group_size,
            access: AccessSettings::from_raw(&raw)?,
            retention,
            store_usernames,
            webhooks: WebhookSettings::from_raw(&raw)?,
            metrics,
            attribution,
            max_clock_skew_ms,
            write_timeout: Duration::from_millis(write_timeout_ms as u64),
            host: raw.host,
            port,
            sqlite_db: raw.sqlite_db,
            database_url,
            config: raw.config.filter(|p| !p.as_os_str().is_empty()),
            default_environment,
            auth: auth_settings(raw.no_auth, raw.token, raw.basic_username, raw.basic_password)?,
            log_format,
        })
    }
}

fn attribution_settings(window: &str, environments: &str) -> Result<Attribution, StartupError> {
    let examples = "30m, 24h or 7d (0 turns attribution off)";
    let window_ms = Some(duration_ms("EM_METRICS_ATTRIBUTION_WINDOW", window, examples)?).filter(|ms| *ms > 0);
    let production_environments: Vec<String> =
        environments.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect();
    Ok(Attribution { window_ms, production_environments: production_environments.into() })
}

fn auth_settings(
    no_auth: Option<String>,
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
) -> Result<AuthSettings, StartupError> {
    let disabled = match no_auth {
        None => false,
        Some(value) => truthy(&value).ok_or_else(|| {
            StartupError::new("EM_METRICS_NO_AUTH", format!("`{value}` is not one of 1/true/yes/on or 0/false/no/off"))
        })?,
    };
    // An empty token would make `Bearer ` a valid credential: treat it as unset.
    let token = secret("EM_METRICS_TOKEN_AUTH", token.as_deref())?;
    let username = secret("EM_METRICS_BASIC_AUTH_USERNAME", username.as_deref())?;
    let password = secret("EM_METRICS_BASIC_AUTH_PASSWORD", password.as_deref())?;
    let basic = match (username, password) {
        (None, None) => None,
        // Either half may be empty, as long as the other is set.
        (u, p) => Some((u.unwrap_or_else(|| Secret::new("")), p.unwrap_or_else(|| Secret::new("")))),
    };
    if !disabled && token.is_none() && basic.is_none() {
        return Err(StartupError::new(
            "EM_METRICS_TOKEN_AUTH",
            "no authentication configured: set EM_METRICS_TOKEN_AUTH, or EM_METRICS_BASIC_AUTH_USERNAME \
             and EM_METRICS_BASIC_AUTH_PASSWORD, or EM_METRICS_NO_AUTH=true to run without (not for production)",
        ));
    }
    Ok(AuthSettings { disabled, token, basic })
}

/// DATABASE_URL, checked; empty means unset. Naming both stores is a
/// mistake to stop at, not to settle by picking one: the other would be
/// silently empty.
pub fn database_url(raw: &RawSettings) -> Result<Option<crate::store::postgres::DatabaseUrl>, StartupError> {
    let Some(text) = raw.database_url.as_deref().map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if raw.sqlite_db_given {
        return Err(StartupError::new(
            "DATABASE_URL",
            "and SQLITE_DB (or --sqlite-db) are both set: choose one store, unset the other",
        ));
    }
    crate::store::postgres::DatabaseUrl::parse(text).map(Some).map_err(|why| StartupError::new("DATABASE_URL", why))
}
