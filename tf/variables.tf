variable "namespace" {
  description = "Namespace to create and deploy into."
  type        = string
  default     = "em-metrics"
}

variable "image" {
  description = "Container image, pinned by tag or digest (e.g. registry.example.com/em-metrics:0.1.0)."
  type        = string
  validation {
    condition     = can(regex("(:[^/:]+|@sha256:[0-9a-f]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "Pin the image by a tag other than latest, or by digest."
  }
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

variable "public_url" {
  description = "EM_METRICS_PUBLIC_URL: the service's external base URL (https://metrics.example.com). Browser writes must come from it; with SSO, the redirect URI is {public_url}/ui/oidc/callback."
  type        = string
  default     = ""
}

variable "oidc_issuer" {
  description = "EM_METRICS_OIDC_ISSUER: the OpenID provider's issuer URL for dashboard sign-in. Empty (the default): no SSO."
  type        = string
  default     = ""
}

variable "oidc_client_id" {
  description = "EM_METRICS_OIDC_CLIENT_ID: the client id registered at the provider."
  type        = string
  default     = ""
}

variable "oidc_client_secret" {
  description = "EM_METRICS_OIDC_CLIENT_SECRET: the client secret registered at the provider; kept in the Secret."
  type        = string
  default     = ""
  sensitive   = true
}

variable "oidc_groups_claim" {
  description = "EM_METRICS_OIDC_GROUPS_CLAIM: the ID token claim that lists the user's groups."
  type        = string
  default     = "groups"
}

variable "oidc_read_groups" {
  description = "EM_METRICS_OIDC_READ_GROUPS: only members of these groups may sign in. Empty: every user of the provider."
  type        = list(string)
  default     = []
}

variable "oidc_admin_groups" {
  description = "EM_METRICS_OIDC_ADMIN_GROUPS: members of these groups are admins in the dashboard."
  type        = list(string)
  default     = []
}

variable "trusted_proxies" {
  description = "EM_METRICS_TRUSTED_PROXIES: addresses or CIDR networks of the ingress proxies whose X-Forwarded-For names the client (for the limits on failed authentication)."
  type        = list(string)
  default     = []
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

variable "database_url" {
  description = "postgres://user:password@host:5432/database. Set, em-metrics runs on PostgreSQL as a Deployment of var.replicas pods with no volume (and a PodDisruptionBudget), in place of the single-replica StatefulSet and its claim; the URL is kept in the Secret. Empty (the default): SQLite."
  type        = string
  default     = ""
  sensitive   = true
}

variable "replicas" {
  description = "Pods of the PostgreSQL Deployment (var.database_url set)."
  type        = number
  default     = 2
}
