//! The meter provider: OTLP push (HTTP or gRPC) and the Prometheus pull endpoint.
//!
//! The SDK's periodic reader exports from its own thread. Over HTTP it uses
//! the blocking reqwest client (an async client there panics and loses data);
//! over gRPC the tonic client needs a tokio runtime, so [`Telemetry::start`]
//! must run inside `Runtime::enter`. Either way an export never runs on a
//! request's path: a collector that is down or slow cannot slow the API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality};
use opentelemetry_sdk::resource::EnvResourceDetector;
use opentelemetry_sdk::Resource;

use crate::config::{AttributeBounds, MetricsSettings, OtlpProtocol, StartupError};
use crate::metrics::{Metrics, METER_NAME};
use crate::secret::redact;

pub struct Telemetry {
    provider: SdkMeterProvider,
    prometheus: Option<prometheus::Registry>,
    bounds: AttributeBounds,
}

impl Telemetry {
    pub fn start(settings: &MetricsSettings) -> Result<Self, StartupError> {
        let limit = settings.bounds.cardinality_limit;
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource(settings))
            .with_view(move |_: &Instrument| Stream::builder().with_cardinality_limit(limit).build().ok());
        match &settings.otlp {
            Some(otlp) => {
                let exporter = match otlp.protocol {
                    OtlpProtocol::HttpProtobuf => MetricExporter::builder()
                        .with_http()
                        .with_protocol(Protocol::HttpBinary)
                        .with_endpoint(&otlp.endpoint)
                        .with_temporality(Temporality::Cumulative)
                        .build(),
                    OtlpProtocol::Grpc => MetricExporter::builder()
                        .with_tonic()
                        .with_endpoint(&otlp.endpoint)
                        .with_temporality(Temporality::Cumulative)
                        .build(),
                }
                .map_err(|e| {
                    let why = redact(&e.to_string(), &otlp.endpoint);
                    StartupError::new(otlp.variable, format!("cannot set up the OTLP exporter: {why}"))
                })?;
                let logged = LoggedExporter::new(exporter, &otlp.endpoint);
                let reader = PeriodicReader::builder(logged).with_interval(otlp.interval).build();
                builder = builder.with_reader(reader);
                tracing::info!(
                    endpoint = %redact(&otlp.endpoint, &otlp.endpoint),
                    protocol = otlp.protocol.as_str(),
                    interval_ms = otlp.interval.as_millis() as u64,
                    "pushing metrics over OTLP"
                );
            }
            None => tracing::info!(
                "no OTLP endpoint configured (OTEL_COLLECTOR_URL, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or \
                 OTEL_EXPORTER_OTLP_ENDPOINT): metrics are not pushed"
            ),
        }
        if let Some(interval) = settings.console {
            let reader = PeriodicReader::builder(ConsoleExporter).with_interval(interval).build();
            builder = builder.with_reader(reader);
            tracing::info!(
                interval_ms = interval.as_millis() as u64,
                "printing every metrics export to stdout (console)"
            );
        }
        if !settings.prometheus {
            tracing::info!("/metrics is off (OTEL_METRICS_EXPORTER or EM_METRICS_PROMETHEUS)");
        }
        let prometheus = if settings.prometheus {
            let registry = prometheus::Registry::new();
            let exporter = opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .scope_info_enabled(false)
                .build()
                .map_err(|e| StartupError::new("EM_METRICS_PROMETHEUS", format!("cannot set up /metrics: {e}")))?;
            builder = builder.with_reader(exporter);
            Some(registry)
        } else {
            None
        };
        Ok(Self { provider: builder.build(), prometheus, bounds: settings.bounds.clone() })
    }

    pub fn meter(&self) -> Meter {
        self.provider.meter(METER_NAME)
    }

    /// The metric catalog on this provider, with its attribute bounds.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(&self.meter(), &self.bounds)
    }

    /// The registry `/metrics` renders, when the endpoint is on.
    pub fn prometheus(&self) -> Option<prometheus::Registry> {
        self.prometheus.clone()
    }

    /// Pushes what was recorded since the last export (tests, and shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "metrics flush failed");
        }
    }

    /// Exports the last interval and stops the exporters. Blocking: call it
    /// outside async code (or in `spawn_blocking`).
    pub fn shutdown(self) {
        self.flush();
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "metrics shutdown failed");
        }
    }
}

/// service.name, service.version and deployment.environment.name, merged over
/// OTEL_RESOURCE_ATTRIBUTES; service.instance.id is this process's own
/// unless OTEL_RESOURCE_ATTRIBUTES names one.
fn resource(settings: &MetricsSettings) -> Resource {
    Resource::builder_empty()
        // Replicas that pushed under one identity would overwrite each
        // other's cumulative counters in the collector: each process is an
        // instance of its own. Set before the environment's attributes, which
        // take precedence over it.
        .with_attribute(KeyValue::new("service.instance.id", instance_id()))
        .with_detector(Box::new(EnvResourceDetector::new()))
        .with_service_name(settings.service_name.clone())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment.name", settings.environment.clone()),
        ])
        .build()
}

/// A random (version 4) UUID, new at every start.
fn instance_id() -> String {
    let mut bytes = [0u8; 16];
    // No randomness from the OS is a broken host; a fixed id would still
    // export, only without telling replicas apart.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Logs an export failure once when it starts and once when exports recover,
/// instead of once per interval, so a collector outage does not flood the log.
struct LoggedExporter<E> {
    inner: E,
    failing: AtomicBool,
    /// The endpoint, whose credentials (if any) an error message must not carry.
    endpoint: String,
}

impl<E> LoggedExporter<E> {
    fn new(inner: E, endpoint: &str) -> Self {
        Self { inner, failing: AtomicBool::new(false), endpoint: endpoint.to_string() }
    }
}

/// OTEL_METRICS_EXPORTER=console: each export as one line of OTLP/JSON on
/// stdout, built by the same conversion the OTLP exporter sends (the
/// official `ExportMetricsServiceRequest`), so an operator sees exactly
/// what would leave the machine, and can decode it with any OTLP tool.
struct ConsoleExporter;

impl PushMetricExporter for ConsoleExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        use std::io::Write;
        let request = ExportMetricsServiceRequest::from(metrics);
        let line = serde_json::to_string(&request)
            .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(format!("stdout: {e}")))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

impl<E: PushMetricExporter> PushMetricExporter for LoggedExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                error = %redact(&e.to_string(), &self.endpoint),
                "OTLP metrics export failed; values are cumulative, so they arrive with the next export \
                 that succeeds (logged again on recovery)"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => tracing::info!("OTLP metrics export recovered"),
            _ => {}
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
