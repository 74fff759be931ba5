//! Settings, from the environment or the command line, checked once at start.
//!
//! Every setting keeps the variable name of the project this replaces. A bad
//! value stops start-up with one line that names the variable (exit code 2),
//! rather than a service that half-works.
//!
//! [`cli`] is the command line (subcommands and flags, as text);
//! [`Settings`] are the checked values; [`otel`] the OpenTelemetry part.

pub mod access;
pub mod cli;
pub mod otel;
mod settings;

pub use access::{AccessSettings, OidcSettings};
pub use cli::{Cli, Command, RawSettings};
pub use otel::{AttributeBounds, MetricsSettings, OtlpProtocol, OtlpSettings, DEFAULT_CARDINALITY_LIMIT};
pub use settings::{database_url, AuthSettings, LogFormat, Settings, WebhookSettings};

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

/// A duration setting such as `30m`, `24h` or `7d`, in milliseconds.
pub(crate) fn duration_ms(variable: &'static str, text: &str, examples: &str) -> Result<i64, StartupError> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| StartupError::new(variable, format!("`{text}` is not a duration like {examples}: {e}")))?;
    Ok(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

/// 1/true/yes/on are true, 0/false/no/off/empty are false, any case.
pub fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A configured secret: empty means unset (docker compose passes unset
/// variables as empty). Leading or trailing whitespace or a control character
/// is a copy mistake (a secret file with a trailing newline) that would make
/// every request fail unnoticed, so it stops the start, naming the setting
/// and never the value.
fn secret(variable: &'static str, value: Option<&str>) -> Result<Option<crate::secret::Secret>, StartupError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(StartupError::new(
            variable,
            "has leading or trailing whitespace or a control character (a trailing newline from a secret file?): \
             remove it, or no request will ever match",
        ));
    }
    Ok(Some(crate::secret::Secret::new(value)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

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
