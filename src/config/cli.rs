//! The command line: subcommands and every flag, each with its environment
//! variable. Values stay text here; [`super::Settings::from_raw`] checks them.

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
    /// Fill SQLITE_DB with a realistic, reproducible story of deployments and incidents.
    Demo(crate::demo::DemoArgs),
    /// Exit 0 when the running server's /health answers 200, else 1 (for container health checks).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Copy SQLITE_DB to FILE, consistently, even while a server writes; exit 0, or 1 with the reason.
    Backup(BackupArgs),
    /// Move every stored event of environment FROM to TO (merging them when TO has events); exit 0, or 1 with the reason.
    RenameEnvironment(RenameEnvironmentArgs),
    /// Copy SQLITE_DB into the empty PostgreSQL database TO, row for row; exit 0 with the counts, or 1 with the reason.
    Copy(CopyArgs),
    /// Create, list or revoke API tokens in SQLITE_DB, server running or not.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; prints its secret alone on stdout (`TOKEN=$(em-metrics token create ...)`).
    Create(TokenCreateArgs),
    /// List the tokens (never their secrets).
    List,
    /// Revoke the token NAME: it stops working at once, and its dashboard sessions end.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenCreateArgs {
    /// A unique name, 1 to 100 characters: how the audit log and `created_by` call it.
    #[arg(long)]
    pub name: String,
    /// ingest, read, write or admin.
    #[arg(long)]
    pub role: String,
    /// Limit the token to this project (repeatable); without, every project.
    #[arg(long = "project")]
    pub projects: Vec<String>,
    /// Make it expire after this long: `90d`, `12h`. Without, it never expires.
    #[arg(long = "expires-in")]
    pub expires_in: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    /// The token's name.
    pub name: String,
}

/// Settings as given; [`super::Settings::from_raw`] validates them.
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
    /// PostgreSQL store: postgres://user:password@host:5432/database (in place of SQLITE_DB).
    #[arg(global = true, long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Whether SQLITE_DB (or --sqlite-db) was given, rather than defaulted:
    /// set from the parsed matches, since it and DATABASE_URL exclude each other.
    #[arg(skip)]
    pub sqlite_db_given: bool,
    /// Team config JSON file (see README); SIGHUP reloads it.
    #[arg(global = true, long, env = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Environment of events that do not name one; also a metrics resource attribute.
    #[arg(
        global = true,
        long = "deployment-environment",
        env = "DEPLOYMENT_ENVIRONMENT",
        default_value = "production"
    )]
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
    /// Fewest distinct authors a group needs for /dora/cycle-time to give a per-author figure.
    #[arg(global = true, long = "min-group-size", env = "EM_METRICS_MIN_GROUP_SIZE", default_value = "5")]
    pub min_group_size: String,
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
    /// The service's external base URL (`https://metrics.example.com`): the origin browser
    /// writes must come from, and the base of the SSO redirect URI (`{URL}/ui/oidc/callback`).
    #[arg(global = true, long = "public-url", env = "EM_METRICS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For
    /// names the client (for the limits on failed authentication). Default: none.
    #[arg(global = true, long = "trusted-proxies", env = "EM_METRICS_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// `false` removes the dashboard's token sign-in form (SSO and basic auth stay).
    #[arg(global = true, long = "ui-token-login", env = "EM_METRICS_UI_TOKEN_LOGIN", default_value = "true")]
    pub ui_token_login: String,
    /// OpenID Connect issuer URL for dashboard sign-in (discovery at
    /// `{issuer}/.well-known/openid-configuration`); https unless on a loopback host.
    #[arg(global = true, long = "oidc-issuer", env = "EM_METRICS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the OpenID provider.
    #[arg(global = true, long = "oidc-client-id", env = "EM_METRICS_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret registered at the OpenID provider.
    #[arg(global = true, long = "oidc-client-secret", env = "EM_METRICS_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// The ID token claim that lists the user's groups.
    #[arg(global = true, long = "oidc-groups-claim", env = "EM_METRICS_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Comma-separated groups whose members may sign in (role read). Unset: every user of the provider.
    #[arg(global = true, long = "oidc-read-groups", env = "EM_METRICS_OIDC_READ_GROUPS")]
    pub oidc_read_groups: Option<String>,
    /// Comma-separated groups whose members are admins in the dashboard.
    #[arg(global = true, long = "oidc-admin-groups", env = "EM_METRICS_OIDC_ADMIN_GROUPS")]
    pub oidc_admin_groups: Option<String>,
}

/// Never print the raw settings: they hold secrets.
impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSettings").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; replaced only once the new copy checks out.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CopyArgs {
    /// The target: postgres://user:password@host:5432/database, with no em-metrics rows in it.
    #[arg(long, hide_env_values = true)]
    pub to: String,
}

#[derive(Debug, Clone, Args)]
pub struct RenameEnvironmentArgs {
    /// The environment the events are in now, e.g. NO_ENV.
    pub from: String,
    /// Its new name, e.g. production.
    pub to: String,
}
