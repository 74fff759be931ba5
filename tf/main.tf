# em-metrics on Kubernetes. On SQLite (the default): one replica (SQLite
# has one writer) in a StatefulSet whose volume claim keeps the database
# across restarts. With var.database_url: a Deployment of var.replicas pods
# on PostgreSQL, with no volume (postgres.tf).

locals {
  labels = {
    "app.kubernetes.io/name"       = "em-metrics"
    "app.kubernetes.io/managed-by" = "terraform"
  }
  data_dir = "/data"
  postgres = var.database_url != ""
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name   = var.namespace
    labels = local.labels
  }
}

resource "kubernetes_secret_v1" "token" {
  metadata {
    name      = "em-metrics-token"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  data = {
    token = var.token
    # Empty unless single sign-on is configured (var.oidc_issuer).
    oidc_client_secret = var.oidc_client_secret
    # Empty unless the store is PostgreSQL (var.database_url).
    database_url = var.database_url
  }
}

resource "kubernetes_config_map_v1" "teams" {
  metadata {
    name      = "em-metrics-teams"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  data = {
    "teams.json" = var.teams_config
  }
}

resource "kubernetes_service_account_v1" "this" {
  metadata {
    name      = "em-metrics"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  automount_service_account_token = false
}

resource "kubernetes_stateful_set_v1" "this" {
  #checkov:skip=CKV_K8S_43:The image is a variable; pin it by digest in var.image where your registry allows.
  count = local.postgres ? 0 : 1
  metadata {
    name      = "em-metrics"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }

  spec {
    replicas     = 1
    service_name = "em-metrics"

    selector {
      match_labels = local.labels
    }

    template {
      metadata {
        labels = local.labels
        annotations = {
          # Roll the pod when the team config changes (SIGHUP reload is for hand edits).
          "em-metrics/teams-sha256" = sha256(var.teams_config)
        }
      }

      spec {
        service_account_name            = kubernetes_service_account_v1.this.metadata[0].name
        automount_service_account_token = false
        termination_grace_period_seconds = 30

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          fs_group        = 65532
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

          env {
            name  = "SQLITE_DB"
            value = "${local.data_dir}/em-metrics.db"
          }
          env {
            name  = "CONFIG"
            value = "/config/teams.json"
          }
          env {
            name  = "DEPLOYMENT_ENVIRONMENT"
            value = var.environment
          }
          env {
            name  = "OTEL_COLLECTOR_URL"
            value = var.collector_url
          }
          env {
            name  = "LOG_FORMAT"
            value = "json"
          }
          env {
            name = "EM_METRICS_TOKEN_AUTH"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.token.metadata[0].name
                key  = "token"
              }
            }
          }
          # Single sign-on for the dashboard (docs/access.md); empty values
          # leave it off. The client secret comes from the Secret.
          env {
            name  = "EM_METRICS_PUBLIC_URL"
            value = var.public_url
          }
          env {
            name  = "EM_METRICS_OIDC_ISSUER"
            value = var.oidc_issuer
          }
          env {
            name  = "EM_METRICS_OIDC_CLIENT_ID"
            value = var.oidc_client_id
          }
          env {
            name = "EM_METRICS_OIDC_CLIENT_SECRET"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.token.metadata[0].name
                key  = "oidc_client_secret"
              }
            }
          }
          env {
            name  = "EM_METRICS_OIDC_GROUPS_CLAIM"
            value = var.oidc_groups_claim
          }
          env {
            name  = "EM_METRICS_OIDC_READ_GROUPS"
            value = join(",", var.oidc_read_groups)
          }
          env {
            name  = "EM_METRICS_OIDC_ADMIN_GROUPS"
            value = join(",", var.oidc_admin_groups)
          }
          env {
            name  = "EM_METRICS_TRUSTED_PROXIES"
            value = join(",", var.trusted_proxies)
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
            name       = "data"
            mount_path = local.data_dir
          }
          volume_mount {
            name       = "teams"
            mount_path = "/config"
            read_only  = true
          }
        }

        # Litestream (var.litestream_replica_url): first restore the replica
        # onto an empty volume (a new node, a lost disk), then replicate
        # every write beside the server. Both run as the server's user.
        dynamic "init_container" {
          for_each = var.litestream_replica_url == "" ? [] : [1]
          content {
            name              = "litestream-restore"
            image             = var.litestream_image
            image_pull_policy = "IfNotPresent"
            args              = ["restore", "-if-db-not-exists", "-if-replica-exists", "-o", "${local.data_dir}/em-metrics.db", var.litestream_replica_url]
            dynamic "env_from" {
              for_each = var.litestream_secret == "" ? [] : [1]
              content {
                secret_ref {
                  name = var.litestream_secret
                }
              }
            }
            resources {
              requests = { cpu = "50m", memory = "64Mi" }
              limits   = { cpu = "500m", memory = "256Mi" }
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
              name       = "data"
              mount_path = local.data_dir
            }
          }
        }

        dynamic "container" {
          for_each = var.litestream_replica_url == "" ? [] : [1]
          content {
            name              = "litestream"
            image             = var.litestream_image
            image_pull_policy = "IfNotPresent"
            args              = ["replicate", "${local.data_dir}/em-metrics.db", var.litestream_replica_url]
            dynamic "env_from" {
              for_each = var.litestream_secret == "" ? [] : [1]
              content {
                secret_ref {
                  name = var.litestream_secret
                }
              }
            }
            resources {
              requests = { cpu = "50m", memory = "64Mi" }
              limits   = { cpu = "500m", memory = "256Mi" }
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
              name       = "data"
              mount_path = local.data_dir
            }
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

    volume_claim_template {
      metadata {
        name   = "data"
        labels = local.labels
      }
      spec {
        access_modes       = ["ReadWriteOnce"]
        storage_class_name = var.storage_class
        resources {
          requests = {
            storage = var.storage_size
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "this" {
  metadata {
    name      = "em-metrics"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  spec {
    selector = local.labels
    port {
      name        = "http"
      port        = 3000
      target_port = "http"
    }
  }
}
