output "namespace" {
  description = "Namespace em-metrics runs in."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "service_url" {
  description = "In-cluster base URL for pipelines and Prometheus."
  value       = "http://${kubernetes_service_v1.this.metadata[0].name}.${kubernetes_namespace_v1.this.metadata[0].name}.svc.cluster.local:3000"
}

output "metrics_path" {
  description = "Prometheus scrape path (send the token as a bearer credential)."
  value       = "/metrics"
}
