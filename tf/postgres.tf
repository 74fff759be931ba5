# With var.database_url: em-metrics on PostgreSQL, as several stateless
# replicas. Each read-then-write decision takes a lock in the database, so
# any pod may take any request; the pods keep nothing on disk.

locals {
  # The settings that are plain values; the secrets come from the Secret below.
  postgres_env = {
    CONFIG                       = "/config/teams.json"
    DEPLOYMENT_ENVIRONMENT       = var.environment
    OTEL_COLLECTOR_URL           = var.collector_url
    LOG_FORMAT                   = "json"
    EM_METRICS_PUBLIC_URL        = var.public_url
    EM_METRICS_OIDC_ISSUER       = var.oidc_issuer
    EM_METRICS_OIDC_CLIENT_ID    = var.oidc_client_id
    EM_METRICS_OIDC_GROUPS_CLAIM = var.oidc_groups_claim
    EM_METRICS_OIDC_READ_GROUPS  = join(",", var.oidc_read_groups)
    EM_METRICS_OIDC_ADMIN_GROUPS = join(",", var.oidc_admin_groups)
    EM_METRICS_TRUSTED_PROXIES   = join(",", var.trusted_proxies)
  }
  # Environment variable => key of the Secret.
  postgres_secret_env = {
    DATABASE_URL                  = "database_url"
    EM_METRICS_TOKEN_AUTH         = "token"
    EM_METRICS_OIDC_CLIENT_SECRET = "oidc_client_secret"
  }
}

resource "kubernetes_deployment_v1" "postgres" {
  #checkov:skip=CKV_K8S_43:The image is a variable; pin it by digest in var.image where your registry allows.
  #checkov:skip=CKV_K8S_14:The image is a variable, and its validation refuses a missing tag and latest.
  #checkov:skip=CKV_K8S_35:em-metrics reads its settings, secrets included, from its environment; they come from a Secret, never from this module's plain values.
  count = local.postgres ? 1 : 0
  metadata {
    name      = "em-metrics"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }

  spec {
    replicas = var.replicas

    selector {
      match_labels = local.labels
    }

    # One new pod ready before an old one goes: no gap in service.
    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "1"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.labels
        annotations = {
          "em-metrics/teams-sha256" = sha256(var.teams_config)
        }
      }

      spec {
        service_account_name             = kubernetes_service_account_v1.this.metadata[0].name
        automount_service_account_token  = false
        termination_grace_period_seconds = 30

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name              = "em-metrics"
          image             = var.image
          image_pull_policy = "Always"

          port {
            name           = "http"
            container_port = 3000
          }

          dynamic "env" {
            for_each = local.postgres_env
            content {
              name  = env.key
              value = env.value
            }
          }
          dynamic "env" {
            for_each = local.postgres_secret_env
            content {
              name = env.key
              value_from {
                secret_key_ref {
                  name = kubernetes_secret_v1.token.metadata[0].name
                  key  = env.value
                }
              }
            }
          }

          resources {
            requests = {
              cpu    = var.resources.cpu_request
              memory = var.resources.memory_request
            }
            limits = {
              cpu    = var.resources.cpu_limit
              memory = var.resources.memory_limit
            }
          }

          liveness_probe {
            http_get {
              path = "/health"
              port = "http"
            }
            period_seconds    = 10
            failure_threshold = 3
          }

          # 503 while PostgreSQL cannot be reached: the pod leaves the Service.
          readiness_probe {
            http_get {
              path = "/ready"
              port = "http"
            }
            period_seconds    = 5
            failure_threshold = 2
          }

          security_context {
            allow_privilege_escalation = false
            privileged                 = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            run_as_user                = 65532
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "teams"
            mount_path = "/config"
            read_only  = true
          }
        }

        volume {
          name = "teams"
          config_map {
            name = kubernetes_config_map_v1.teams.metadata[0].name
          }
        }
      }
    }
  }
}

# A node drain or an upgrade takes at most one pod at a time.
resource "kubernetes_pod_disruption_budget_v1" "postgres" {
  count = local.postgres ? 1 : 0
  metadata {
    name      = "em-metrics"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.labels
    }
  }
}
