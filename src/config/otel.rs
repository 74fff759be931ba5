//! The OpenTelemetry settings: where metrics go, how often, and what keeps
//! the exported series bounded.

use std::time::Duration;

use super::cli::RawSettings;
use super::{truthy, StartupError};

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

pub(super) fn metrics_settings(raw: &RawSettings, environment: &str) -> Result<MetricsSettings, StartupError> {
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
                let shown = crate::secret::redact(&endpoint, &endpoint);
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
