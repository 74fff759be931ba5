//! Settings, from the environment or the command line, checked once at start.
//!
//! Every setting keeps the variable name of the project this replaces. A bad
//! value stops start-up with one line that names the variable (exit code 2),
//! rather than a service that half-works.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "em-metrics", version, about = "DORA metrics for deployments and incidents")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: RawSettings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
}

/// Settings as given; [`Settings::from_raw`] validates them.
#[derive(Clone, Args)]
pub struct RawSettings {
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Listen port (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "3000")]
    pub port: String,
    /// SQLite file; created with its folder if missing.
    #[arg(long = "sqlite-db", env = "SQLITE_DB", default_value = "em-metrics.db")]
    pub sqlite_db: PathBuf,
    /// Team config JSON file (see README); SIGHUP reloads it.
    #[arg(long, env = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Environment of events that do not name one; also a metrics resource attribute.
    #[arg(long = "deployment-environment", env = "DEPLOYMENT_ENVIRONMENT", default_value = "NO_ENV")]
    pub deployment_environment: String,
    /// Disable authentication: 1/true/yes/on. Only for local experiments.
    #[arg(long = "no-auth", env = "EM_METRICS_NO_AUTH", num_args = 0..=1, default_missing_value = "true")]
    pub no_auth: Option<String>,
    /// Token accepted as `Authorization: Bearer <token>` or `Token <token>`.
    #[arg(long = "token-auth", env = "EM_METRICS_TOKEN_AUTH", hide_env_values = true)]
    pub token: Option<String>,
    /// Basic auth username (may be empty when a password is set).
    #[arg(long = "basic-auth-username", env = "EM_METRICS_BASIC_AUTH_USERNAME", hide_env_values = true)]
    pub basic_username: Option<String>,
    /// Basic auth password (may be empty when a username is set).
    #[arg(long = "basic-auth-password", env = "EM_METRICS_BASIC_AUTH_PASSWORD", hide_env_values = true)]
    pub basic_password: Option<String>,
    /// `text` or `json` (JSON lines). RUST_LOG sets the level, e.g. `info,em_metrics=debug`.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Never print the raw settings: they hold secrets.
impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSettings").finish_non_exhaustive()
    }
}

/// A start-up problem: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct StartupError {
    pub variable: &'static str,
    pub message: String,
}

impl StartupError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self { variable, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret that prints as `[redacted]` in Debug output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
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
    pub config: Option<PathBuf>,
    pub default_environment: String,
    pub auth: AuthSettings,
    pub log_format: LogFormat,
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
        let default_environment = raw.deployment_environment.trim().to_string();
        if default_environment.is_empty() {
            return Err(StartupError::new("DEPLOYMENT_ENVIRONMENT", "must not be empty"));
        }
        let log_format = match raw.log_format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(StartupError::new("LOG_FORMAT", format!("`{other}` is not `text` or `json`"))),
        };
        Ok(Self {
            host: raw.host,
            port,
            sqlite_db: raw.sqlite_db,
            config: raw.config.filter(|p| !p.as_os_str().is_empty()),
            default_environment,
            auth: auth_settings(raw.no_auth, raw.token, raw.basic_username, raw.basic_password)?,
            log_format,
        })
    }
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
    let token = token.filter(|t| !t.is_empty()).map(Secret::new);
    let basic = match (username.unwrap_or_default(), password.unwrap_or_default()) {
        (u, p) if u.is_empty() && p.is_empty() => None,
        (u, p) => Some((Secret::new(u), Secret::new(p))),
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

/// 1/true/yes/on are true, 0/false/no/off/empty are false, any case.
pub fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(args: &[&str]) -> RawSettings {
        let mut all = vec!["em-metrics"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").settings
    }

    #[test]
    fn truthy_values_follow_the_documented_list() {
        for v in ["1", "TRUE", "Yes", "on"] {
            assert_eq!(truthy(v), Some(true), "{v}");
        }
        for v in ["0", "false", "NO", "off", ""] {
            assert_eq!(truthy(v), Some(false), "{v}");
        }
        assert_eq!(truthy("maybe"), None);
    }

    #[test]
    fn the_api_never_runs_open_by_accident() {
        let err = Settings::from_raw(raw(&["--no-auth", "false"])).expect_err("no auth configured");
        assert_eq!(err.variable, "EM_METRICS_TOKEN_AUTH");
        assert!(Settings::from_raw(raw(&["--no-auth"])).expect("explicit").auth.disabled);
    }

    #[test]
    fn a_bad_port_names_the_variable() {
        let err = Settings::from_raw(raw(&["--token-auth", "t", "--port", "70000"])).expect_err("bad port");
        assert_eq!(err.variable, "PORT");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Settings::from_raw(raw(&["--token-auth", "hunter2"])).expect("ok");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
