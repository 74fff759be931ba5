variable "namespace" {
  description = "Namespace to create and deploy into."
  type        = string
  default     = "em-metrics"
}

variable "image" {
  description = "Container image, pinned by tag or digest (e.g. registry.example.com/em-metrics:0.1.0)."
  type        = string
}

variable "environment" {
  description = "DEPLOYMENT_ENVIRONMENT: environment of events that do not name one."
  type        = string
  default     = "production"
}

variable "collector_url" {
  description = "OTEL_COLLECTOR_URL, the full OTLP metrics URL; empty disables the push."
  type        = string
  default     = ""
}

variable "storage_class" {
  description = "StorageClass of the SQLite volume; null uses the cluster default."
  type        = string
  default     = null
}

variable "storage_size" {
  description = "Size of the SQLite volume."
  type        = string
  default     = "5Gi"
}

variable "token" {
  description = "EM_METRICS_TOKEN_AUTH: the API token pipelines and Prometheus send."
  type        = string
  sensitive   = true
}

variable "teams_config" {
  description = "The team config (JSON), mounted as CONFIG."
  type        = string
  default     = "{\"teams\": {}}"
}

variable "resources" {
  description = "Requests and limits of the container."
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "100m"
    memory_request = "64Mi"
    cpu_limit      = "1"
    memory_limit   = "256Mi"
  }
}

variable "litestream_replica_url" {
  description = "A Litestream replica URL (s3://bucket/path, gcs://, abs://, sftp://, file://). Set, it adds a Litestream sidecar that replicates the SQLite file continuously, and an init container that restores it onto an empty volume. Empty (the default): off."
  type        = string
  default     = ""
}

variable "litestream_image" {
  description = "The Litestream image of the sidecar."
  type        = string
  default     = "litestream/litestream:0.5.17"
}

variable "litestream_secret" {
  description = "A Secret in the namespace whose keys become the sidecar's environment (LITESTREAM_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY, ...). Empty: none."
  type        = string
  default     = ""
}
