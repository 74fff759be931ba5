//! A test OTLP receiver: HTTP (`POST /v1/metrics`) or gRPC, on 127.0.0.1,
//! decoding every export with the official protobuf definitions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, HistogramDataPoint, Metric};
use prost::Message;
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct Received {
    requests: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Received {
    pub fn count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn headers(&self) -> Vec<HeaderMap> {
        self.headers.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The last export: with cumulative temporality it holds every total.
    pub fn latest(&self) -> Option<ExportMetricsServiceRequest> {
        self.requests.lock().ok()?.iter().rev().find(|r| !r.resource_metrics.is_empty()).cloned()
    }

    fn push(&self, request: ExportMetricsServiceRequest, headers: HeaderMap) {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request);
        }
        if let Ok(mut h) = self.headers.lock() {
            h.push(headers);
        }
    }
}

/// Serves OTLP/HTTP on `listener`; returns what it receives.
pub fn serve_http(listener: TcpListener) -> Received {
    serve_http_abortable(listener).0
}

/// Like [`serve_http`], with a handle that takes the collector down (closes the port).
pub fn serve_http_abortable(listener: TcpListener) -> (Received, tokio::task::AbortHandle) {
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/v1/metrics",
            post(|State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                match ExportMetricsServiceRequest::decode(body) {
                    Ok(request) => {
                        received.push(request, headers);
                        (
                            [("content-type", "application/x-protobuf")],
                            ExportMetricsServiceResponse::default().encode_to_vec(),
                        )
                            .into_response()
                    }
                    Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
                }
            }),
        )
        .with_state(received.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    (received, task.abort_handle())
}

pub async fn start_http() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (addr, serve_http(listener))
}

struct Grpc(Received);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.push(request.into_inner(), HeaderMap::new());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Serves OTLP/gRPC on a free port.
pub async fn start_grpc() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Received::default();
    let service = MetricsServiceServer::new(Grpc(received.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });
    (addr, received)
}

/// A metric's data points flattened for assertions, keyed by their attributes.
pub struct Catalog {
    pub metrics: BTreeMap<String, Metric>,
    pub resource: BTreeMap<String, String>,
    pub scope: String,
}

impl Catalog {
    pub fn from(request: &ExportMetricsServiceRequest) -> Self {
        let mut metrics = BTreeMap::new();
        let mut resource = BTreeMap::new();
        let mut scope = String::new();
        for rm in &request.resource_metrics {
            if let Some(r) = &rm.resource {
                resource.extend(r.attributes.iter().map(|kv| (kv.key.clone(), text(kv))));
            }
            for sm in &rm.scope_metrics {
                scope = sm.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                for m in &sm.metrics {
                    metrics.insert(m.name.clone(), m.clone());
                }
            }
        }
        Self { metrics, resource, scope }
    }

    pub fn metric(&self, name: &str) -> &Metric {
        self.metrics.get(name).unwrap_or_else(|| panic!("metric {name} not exported; have {:?}", self.metrics.keys()))
    }

    /// Counter value per attribute set, e.g. `project_id=api,environment=prod,team_id=backend`.
    pub fn counter(&self, name: &str) -> BTreeMap<String, i64> {
        match &self.metric(name).data {
            Some(metric::Data::Sum(sum)) => {
                assert!(sum.is_monotonic, "{name} is monotonic");
                assert_eq!(sum.aggregation_temporality, 2, "{name} is cumulative");
                sum.data_points
                    .iter()
                    .map(|p| {
                        let value = match p.value {
                            Some(number_data_point::Value::AsInt(v)) => v,
                            Some(number_data_point::Value::AsDouble(v)) => v as i64,
                            None => 0,
                        };
                        (labels(&p.attributes), value)
                    })
                    .collect()
            }
            other => panic!("{name} is not a sum: {other:?}"),
        }
    }

    pub fn histogram(&self, name: &str) -> BTreeMap<String, HistogramDataPoint> {
        match &self.metric(name).data {
            Some(metric::Data::Histogram(h)) => {
                assert_eq!(h.aggregation_temporality, 2, "{name} is cumulative");
                h.data_points.iter().map(|p| (labels(&p.attributes), p.clone())).collect()
            }
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Attributes as `key=value` joined in key order.
pub fn labels(attributes: &[KeyValue]) -> String {
    let mut pairs: Vec<String> = attributes.iter().map(|kv| format!("{}={}", kv.key, text(kv))).collect();
    pairs.sort();
    pairs.join(",")
}
