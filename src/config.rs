//! Settings, from the environment or the command line, checked once at start.
//!
//! Every setting keeps the variable name of the project this replaces. A bad
//! value stops start-up with one line that names the variable (exit code 2),
//! rather than a service that half-works.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::domain::Attribution;

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
    /// Fill SQLITE_DB with a realistic, reproducible story of deployments and incidents.
    Demo(crate::demo::DemoArgs),
    /// Exit 0 when the running server's /health answers 200, else 1 (for container health checks).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Copy SQLITE_DB to FILE, consistently, even while a server writes; exit 0, or 1 with the reason.
    Backup(crate::backup::BackupArgs),
}

/// Settings as given; [`Settings::from_raw`] validates them.
#[derive(Clone, Args)]
pub struct RawSettings {
    /// Listen address.
    #[arg(global = true, long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Listen port (0 picks a free one).
    #[arg(global = true, long, env = "PORT", default_value = "3000")]
    pub port: String,
    /// SQLite file; created with its folder if missing.
    #[arg(global = true, long = "sqlite-db", env = "SQLITE_DB", default_value = "em-metrics.db")]
    pub sqlite_db: PathBuf,
    /// Team config JSON file (see README); SIGHUP reloads it.
    #[arg(global = true, long, env = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Environment of events that do not name one; also a metrics resource attribute.
    #[arg(global = true, long = "deployment-environment", env = "DEPLOYMENT_ENVIRONMENT", default_value = "NO_ENV")]
    pub deployment_environment: String,
    /// Disable authentication: 1/true/yes/on. Only for local experiments.
    #[arg(global = true, long = "no-auth", env = "EM_METRICS_NO_AUTH", num_args = 0..=1, default_missing_value = "true")]
    pub no_auth: Option<String>,
    /// Token accepted as `Authorization: Bearer <token>` or `Token <token>`.
    #[arg(global = true, long = "token-auth", env = "EM_METRICS_TOKEN_AUTH", hide_env_values = true)]
    pub token: Option<String>,
    /// Basic auth username (may be empty when a password is set).
    #[arg(global = true, long = "basic-auth-username", env = "EM_METRICS_BASIC_AUTH_USERNAME", hide_env_values = true)]
    pub basic_username: Option<String>,
    /// Basic auth password (may be empty when a username is set).
    #[arg(global = true, long = "basic-auth-password", env = "EM_METRICS_BASIC_AUTH_PASSWORD", hide_env_values = true)]
    pub basic_password: Option<String>,
    /// `text` or `json` (JSON lines). RUST_LOG sets the level, e.g. `info,em_metrics=debug`.
    #[arg(global = true, long = "log-format", env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Full OTLP metrics URL, used as given (e.g. http://collector:4318/v1/metrics). Wins over the two below.
    #[arg(global = true, long = "otel-collector-url", env = "OTEL_COLLECTOR_URL")]
    pub otel_collector_url: Option<String>,
    /// Standard OTLP metrics endpoint, used as given.
    #[arg(global = true, long = "otlp-metrics-endpoint", env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")]
    pub otlp_metrics_endpoint: Option<String>,
    /// Standard OTLP base endpoint; `/v1/metrics` is appended for HTTP.
    #[arg(global = true, long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// `http/protobuf` or `grpc`. OTEL_EXPORTER_OTLP_HEADERS adds headers (collectors behind auth).
    #[arg(global = true, long = "otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf")]
    pub otlp_protocol: String,
    /// Milliseconds between OTLP exports.
    #[arg(
        global = true,
        long = "metric-export-interval",
        env = "OTEL_METRIC_EXPORT_INTERVAL",
        default_value = "10000"
    )]
    pub metric_export_interval: String,
    /// `service.name` of the metrics resource. OTEL_RESOURCE_ATTRIBUTES adds more attributes.
    #[arg(global = true, long = "service-name", env = "OTEL_SERVICE_NAME", default_value = "em_metrics")]
    pub service_name: String,
    /// Where metrics go, comma-separated: `otlp` (the default when an endpoint is set),
    /// `prometheus` (/metrics), `console` (every export as a JSON line on stdout), `none`.
    #[arg(global = true, long = "metrics-exporter", env = "OTEL_METRICS_EXPORTER")]
    pub metrics_exporter: Option<String>,
    /// Serve the Prometheus text format at /metrics (behind auth): true or false.
    #[arg(global = true, long = "prometheus", env = "EM_METRICS_PROMETHEUS", default_value = "true")]
    pub prometheus: String,
    /// How long before an incident a deployment may have gone live to be linked to an
    /// incident reported without one: `30m`, `24h`, `7d`; `0` turns attribution off.
    #[arg(global = true, long = "attribution-window", env = "EM_METRICS_ATTRIBUTION_WINDOW", default_value = "24h")]
    pub attribution_window: String,
    /// Comma-separated environments an incident that names none is attributed in
    /// (DEPLOYMENT_ENVIRONMENT counts too).
    #[arg(
        global = true,
        long = "production-environments",
        env = "EM_METRICS_PRODUCTION_ENVIRONMENTS",
        default_value = "production,prod"
    )]
    pub production_environments: String,
    /// How far ahead of the server's clock a given time may be (`1h`, `10m`); further is a 400.
    #[arg(global = true, long = "max-clock-skew", env = "EM_METRICS_MAX_CLOCK_SKEW", default_value = "1h")]
    pub max_clock_skew: String,
    /// How long a write may wait in all (queue and database lock) before it gets 503 with Retry-After.
    #[arg(global = true, long = "write-timeout", env = "EM_METRICS_WRITE_TIMEOUT", default_value = "5s")]
    pub write_timeout: String,
    /// Delete events older than this (`730d`, `90d`; at least a day), at start and once a day.
    /// Unset keeps everything.
    #[arg(global = true, long = "retention", env = "EM_METRICS_RETENTION")]
    pub retention: Option<String>,
    /// `false` stores no username (the only personal data kept); the team is still resolved from it.
    #[arg(global = true, long = "store-usernames", env = "EM_METRICS_STORE_USERNAMES", default_value = "true")]
    pub store_usernames: String,
    /// Comma-separated environments exported under their own name; others as `other`. Default: all.
    #[arg(global = true, long = "environments", env = "EM_METRICS_ENVIRONMENTS")]
    pub environments: Option<String>,
    /// Most attribute sets (series) per instrument; one warning names the instrument that reaches it.
    #[arg(global = true, long = "cardinality-limit", env = "EM_METRICS_CARDINALITY_LIMIT", default_value = "2000")]
    pub cardinality_limit: String,
    /// Enables `POST /webhooks/github`: the secret of the repository webhook (X-Hub-Signature-256).
    #[arg(
        global = true,
        long = "github-webhook-secret",
        env = "EM_METRICS_GITHUB_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub github_webhook_secret: Option<String>,
    /// Enables `POST /webhooks/gitlab`: the secret token of the project hook (X-Gitlab-Token).
    #[arg(
        global = true,
        long = "gitlab-webhook-token",
        env = "EM_METRICS_GITLAB_WEBHOOK_TOKEN",
        hide_env_values = true
    )]
    pub gitlab_webhook_token: Option<String>,
    /// Enables `POST /webhooks/pagerduty`: the signing secret of the v3 webhook subscription.
    #[arg(
        global = true,
        long = "pagerduty-webhook-secret",
        env = "EM_METRICS_PAGERDUTY_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub pagerduty_webhook_secret: Option<String>,
    /// Enables `POST /webhooks/incident-io`: the endpoint's `whsec_…` signing secret.
    #[arg(
        global = true,
        long = "incident-io-webhook-secret",
        env = "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub incident_io_webhook_secret: Option<String>,
    /// The incident.io custom field whose first value names the project.
    #[arg(
        global = true,
        long = "incident-io-project-field",
        env = "EM_METRICS_INCIDENT_IO_PROJECT_FIELD",
        default_value = "Affected service"
    )]
    pub incident_io_project_field: String,
    /// When set, `POST /webhooks/alertmanager` also requires Grafana's X-Grafana-Alerting-Signature.
    #[arg(
        global = true,
        long = "grafana-webhook-secret",
        env = "EM_METRICS_GRAFANA_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub grafana_webhook_secret: Option<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

impl OtlpProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OtlpSettings {
    pub endpoint: String,
    /// The variable the endpoint came from, for error messages.
    pub variable: &'static str,
    pub protocol: OtlpProtocol,
    pub interval: Duration,
}

/// What the metrics export needs.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// None: no push.
    pub otlp: Option<OtlpSettings>,
    /// Serve /metrics.
    pub prometheus: bool,
    /// OTEL_METRICS_EXPORTER has `console`: print every export to stdout.
    pub console: Option<Duration>,
    pub service_name: String,
    pub environment: String,
    pub bounds: AttributeBounds,
}

/// What keeps the exported series bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeBounds {
    /// EM_METRICS_ENVIRONMENTS: the environments exported under their own
    /// name; any other is exported as `other` (stored as given). None: all.
    pub environments: Option<Vec<String>>,
    /// EM_METRICS_CARDINALITY_LIMIT: attribute sets per instrument.
    pub cardinality_limit: usize,
}

impl Default for AttributeBounds {
    fn default() -> Self {
        Self { environments: None, cardinality_limit: DEFAULT_CARDINALITY_LIMIT }
    }
}

/// The default of EM_METRICS_CARDINALITY_LIMIT (the SDK's own default too).
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

impl MetricsSettings {
    /// No push, /metrics on: what tests and tools without a collector use.
    pub fn local(environment: &str) -> Self {
        Self {
            otlp: None,
            prometheus: true,
            console: None,
            service_name: "em_metrics".into(),
            environment: environment.into(),
            bounds: AttributeBounds::default(),
        }
    }
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
    pub metrics: MetricsSettings,
    pub attribution: Attribution,
    pub max_clock_skew_ms: i64,
    pub write_timeout: Duration,
    pub webhooks: WebhookSettings,
    /// Events older than this are deleted; None keeps everything.
    pub retention: Option<Duration>,
    /// Whether deployments keep their username.
    pub store_usernames: bool,
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
        let secret = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(Secret::new);
        let incident_io_secret = secret(&raw.incident_io_webhook_secret);
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
            github_secret: secret(&raw.github_webhook_secret),
            gitlab_token: secret(&raw.gitlab_webhook_token),
            pagerduty_secret: secret(&raw.pagerduty_webhook_secret),
            incident_io_secret,
            incident_io_project_field: if field.is_empty() { "Affected service".into() } else { field.into() },
            grafana_secret: secret(&raw.grafana_webhook_secret),
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
        let default_environment = raw.deployment_environment.trim().to_string();
        if default_environment.is_empty() {
            return Err(StartupError::new("DEPLOYMENT_ENVIRONMENT", "must not be empty"));
        }
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
        Ok(Self {
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
            config: raw.config.filter(|p| !p.as_os_str().is_empty()),
            default_environment,
            auth: auth_settings(raw.no_auth, raw.token, raw.basic_username, raw.basic_password)?,
            log_format,
        })
    }
}

fn metrics_settings(raw: &RawSettings, environment: &str) -> Result<MetricsSettings, StartupError> {
    let protocol = match raw.otlp_protocol.trim() {
        "" | "http/protobuf" => OtlpProtocol::HttpProtobuf,
        "grpc" => OtlpProtocol::Grpc,
        other => {
            return Err(StartupError::new(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                format!("`{other}` is not supported: use http/protobuf or grpc"),
            ))
        }
    };
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let endpoint = if let Some(url) = given(&raw.otel_collector_url) {
        Some(("OTEL_COLLECTOR_URL", url))
    } else if let Some(url) = given(&raw.otlp_metrics_endpoint) {
        Some(("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url))
    } else if let Some(base) = given(&raw.otlp_endpoint) {
        let url = match protocol {
            OtlpProtocol::HttpProtobuf => format!("{}/v1/metrics", base.trim_end_matches('/')),
            OtlpProtocol::Grpc => base,
        };
        Some(("OTEL_EXPORTER_OTLP_ENDPOINT", url))
    } else {
        None
    };
    let interval_ms = raw.metric_export_interval.trim().parse::<u64>().ok().filter(|ms| *ms > 0).ok_or_else(|| {
        StartupError::new(
            "OTEL_METRIC_EXPORT_INTERVAL",
            format!("`{}` is not a positive number of milliseconds", raw.metric_export_interval),
        )
    })?;
    let exporters = Exporters::parse(raw.metrics_exporter.as_deref())?;
    let endpoint = match (exporters.otlp, endpoint) {
        (Some(true), None) => {
            return Err(StartupError::new(
                "OTEL_METRICS_EXPORTER",
                "`otlp` needs an endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_COLLECTOR_URL)",
            ))
        }
        (Some(false), _) => None,
        (_, endpoint) => endpoint,
    };
    let otlp = match endpoint {
        None => None,
        Some((variable, endpoint)) => {
            let uri = endpoint.parse::<axum::http::Uri>().ok();
            if !uri.as_ref().is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()) {
                let shown = crate::telemetry::redact(&endpoint, &endpoint);
                return Err(StartupError::new(variable, format!("`{shown}` is not an http:// or https:// URL")));
            }
            Some(OtlpSettings { endpoint, variable, protocol, interval: Duration::from_millis(interval_ms) })
        }
    };
    let prometheus = truthy(&raw.prometheus).ok_or_else(|| {
        StartupError::new("EM_METRICS_PROMETHEUS", format!("`{}` is not true or false", raw.prometheus))
    })? && exporters.prometheus;
    let console = exporters.console.then_some(Duration::from_millis(interval_ms));
    let service_name = match raw.service_name.trim() {
        "" => "em_metrics".to_string(),
        name => name.to_string(),
    };
    let environments = raw
        .environments
        .as_deref()
        .map(|list| list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect::<Vec<_>>())
        .filter(|list| !list.is_empty());
    let cardinality_limit =
        raw.cardinality_limit.trim().parse::<usize>().ok().filter(|n| *n >= 2).ok_or_else(|| {
            StartupError::new(
                "EM_METRICS_CARDINALITY_LIMIT",
                format!("`{}` is not a whole number of series, 2 or more", raw.cardinality_limit),
            )
        })?;
    let bounds = AttributeBounds { environments, cardinality_limit };
    Ok(MetricsSettings { otlp, prometheus, console, service_name, environment: environment.to_string(), bounds })
}

/// OTEL_METRICS_EXPORTER, the OpenTelemetry variable: which exporters run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exporters {
    /// Some(true): listed; Some(false): the list leaves it out; None: no
    /// list, so OTLP runs when an endpoint is set.
    otlp: Option<bool>,
    prometheus: bool,
    console: bool,
}

impl Exporters {
    fn parse(list: Option<&str>) -> Result<Self, StartupError> {
        let names: Vec<&str> =
            list.map(|l| l.split(',').map(str::trim).filter(|n| !n.is_empty()).collect()).unwrap_or_default();
        if names.is_empty() {
            return Ok(Self { otlp: None, prometheus: true, console: false });
        }
        let bad = |why: String| StartupError::new("OTEL_METRICS_EXPORTER", why);
        if let Some(unknown) = names.iter().find(|n| !["otlp", "prometheus", "console", "none"].contains(n)) {
            return Err(bad(format!("`{unknown}` is not otlp, prometheus, console or none")));
        }
        if names.contains(&"none") && names.len() > 1 {
            return Err(bad("`none` cannot be combined with other exporters".into()));
        }
        Ok(Self {
            otlp: Some(names.contains(&"otlp")),
            prometheus: names.contains(&"prometheus"),
            console: names.contains(&"console"),
        })
    }
}

/// A duration setting such as `30m`, `24h` or `7d`, in milliseconds.
fn duration_ms(variable: &'static str, text: &str, examples: &str) -> Result<i64, StartupError> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| StartupError::new(variable, format!("`{text}` is not a duration like {examples}: {e}")))?;
    Ok(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
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
    fn the_collector_url_wins_and_the_base_endpoint_gets_the_metrics_path() {
        let s = Settings::from_raw(raw(&[
            "--token-auth",
            "t",
            "--otlp-endpoint",
            "http://base:4318/",
            "--otlp-metrics-endpoint",
            "http://signal:4318/custom",
        ]))
        .expect("ok");
        assert_eq!(s.metrics.otlp.expect("on").endpoint, "http://signal:4318/custom");
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--otlp-endpoint", "http://base:4318/"])).expect("ok");
        assert_eq!(s.metrics.otlp.expect("on").endpoint, "http://base:4318/v1/metrics");
        let s = Settings::from_raw(raw(&[
            "--token-auth",
            "t",
            "--otel-collector-url",
            "http://c:4318/v1/metrics",
            "--otlp-endpoint",
            "http://base:4318",
        ]))
        .expect("ok");
        assert_eq!(s.metrics.otlp.expect("on").variable, "OTEL_COLLECTOR_URL");
        let err = Settings::from_raw(raw(&["--token-auth", "t", "--otel-collector-url", "collector:4318"]))
            .expect_err("not a URL");
        assert_eq!(err.variable, "OTEL_COLLECTOR_URL");
    }

    #[test]
    fn the_attribution_window_takes_durations_and_zero_turns_it_off() {
        let s = Settings::from_raw(raw(&["--token-auth", "t"])).expect("ok");
        assert_eq!(s.attribution.window_ms, Some(24 * 3_600_000));
        assert_eq!(&*s.attribution.production_environments, ["production", "prod"]);
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--attribution-window", "30m"])).expect("ok");
        assert_eq!(s.attribution.window_ms, Some(30 * 60_000));
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--attribution-window", "7d"])).expect("ok");
        assert_eq!(s.attribution.window_ms, Some(7 * 86_400_000));
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--attribution-window", "0"])).expect("ok");
        assert_eq!(s.attribution.window_ms, None);
        let err = Settings::from_raw(raw(&["--token-auth", "t", "--attribution-window", "a day"])).expect_err("bad");
        assert_eq!(err.variable, "EM_METRICS_ATTRIBUTION_WINDOW");
    }

    #[test]
    fn a_webhook_source_is_on_only_with_its_secret_and_a_bad_incident_io_secret_stops_the_start() {
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--github-webhook-secret", ""])).expect("ok");
        assert!(s.webhooks.github_secret.is_none(), "an empty secret (compose's default) leaves it off");
        let s = Settings::from_raw(raw(&["--token-auth", "t", "--gitlab-webhook-token", "tok"])).expect("ok");
        assert!(s.webhooks.gitlab_token.is_some());
        assert_eq!(s.webhooks.incident_io_project_field, "Affected service");
        let err = Settings::from_raw(raw(&["--token-auth", "t", "--incident-io-webhook-secret", "whsec_not*base64"]))
            .expect_err("not base64");
        assert_eq!(err.variable, "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET");
        assert!(!err.message.contains("not*base64"), "the value is never echoed: {}", err.message);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Settings::from_raw(raw(&["--token-auth", "hunter2"])).expect("ok");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
