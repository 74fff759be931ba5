"""The shipped configs are accepted by the real tools that can run here.

No Docker engine, Grafana or collector image runs on these machines, so:
docker-compose 1.29 validates the compose file, promtool (Prometheus 2.42)
the Prometheus config, and the collector config is parsed and checked to
name only components the contrib image ships.
"""
import os
import subprocess

import yaml

from conftest import ROOT

# Components of otel/opentelemetry-collector-contrib (0.115) this stack could
# use; a name outside these is a typo or needs another image.
CONTRIB = {
    "receivers": {"otlp", "prometheus", "hostmetrics", "filelog", "kafka", "jaeger", "zipkin"},
    "processors": {"batch", "memory_limiter", "resource", "attributes", "filter", "transform",
                   "resourcedetection", "cumulativetodelta", "deltatocumulative", "groupbyattrs"},
    "exporters": {"prometheusremotewrite", "prometheus", "otlp", "otlphttp", "debug", "file", "kafka"},
    "extensions": {"health_check", "pprof", "zpages", "basicauth", "bearertokenauth"},
    "connectors": {"forward", "count", "spanmetrics"},
}


def run(*args):
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_docker_compose_accepts_the_compose_file():
    run("docker-compose", "-f", "docker-compose.yml", "config", "--quiet")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert set(services) == {"em-metrics", "litestream", "otel-collector", "prometheus", "grafana"}
    for name, service in services.items():
        image = service.get("image", "")
        if name != "em-metrics":
            tag = image.rsplit(":", 1)[-1]
            assert ":" in image and tag not in ("latest", ""), f"{name}: pin the image tag ({image})"
    assert int(services["grafana"]["image"].split(":")[1].split(".")[0]) >= 11, "Grafana 11 or newer"
    assert services["prometheus"]["image"].split(":v")[1].startswith("3.")


def test_docker_compose_passes_the_sso_settings_through_from_the_environment():
    env = dict(os.environ, EM_METRICS_OIDC_ISSUER="https://login.example.com", EM_METRICS_OIDC_CLIENT_ID="em",
               EM_METRICS_OIDC_CLIENT_SECRET="from-the-env-4c1", EM_METRICS_PUBLIC_URL="https://m.example.com",
               EM_METRICS_OIDC_ADMIN_GROUPS="platform")
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    em = yaml.safe_load(result.stdout)["services"]["em-metrics"]["environment"]
    assert em["EM_METRICS_OIDC_ISSUER"] == "https://login.example.com"
    assert em["EM_METRICS_OIDC_CLIENT_SECRET"] == "from-the-env-4c1"
    assert em["EM_METRICS_PUBLIC_URL"] == "https://m.example.com"
    assert em["EM_METRICS_OIDC_GROUPS_CLAIM"] == "groups"
    assert em["EM_METRICS_OIDC_ADMIN_GROUPS"] == "platform"
    # Unset, SSO stays off: an empty issuer is no issuer.
    plain = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config"], cwd=ROOT,
                           env={k: v for k, v in os.environ.items() if not k.startswith("EM_METRICS_")},
                           capture_output=True, text=True)
    assert yaml.safe_load(plain.stdout)["services"]["em-metrics"]["environment"]["EM_METRICS_OIDC_ISSUER"] == ""
    assert "from-the-env-4c1" not in (ROOT / "docker-compose.yml").read_text()


def test_the_litestream_sidecar_replicates_the_database_the_server_writes():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    sidecar = services["litestream"]
    assert sidecar["image"].startswith("litestream/litestream:0."), "pinned"
    assert sidecar["command"][:1] == ["replicate"]
    data = next(v for v in services["em-metrics"]["volumes"] if v.endswith(":/data"))
    assert data in sidecar["volumes"], "the same volume as the server's /data"
    assert "./config/litestream.yml:/etc/litestream.yml:ro" in sidecar["volumes"]
    config = yaml.safe_load((ROOT / "config/litestream.yml").read_text())
    (db,) = config["dbs"]
    assert db["path"] == "/data/em-metrics.db", "SQLITE_DB's default in the image's working folder"
    assert "WORKDIR /data" in (ROOT / "Dockerfile").read_text()
    replica = db["replica"]
    assert replica["type"] == "file" and f"litestream-replica:{replica['path']}" in sidecar["volumes"]
    assert "s3" in (ROOT / "config/litestream.yml").read_text(), "the S3 settings sit beside it, commented"


def test_promtool_accepts_the_prometheus_config():
    out = run("promtool", "check", "config", "config/prometheus.yml")
    assert "SUCCESS" in out


def test_the_collector_config_names_only_contrib_components_and_wires_them():
    config = yaml.safe_load((ROOT / "config" / "otel-collector.yaml").read_text())
    for kind in ("receivers", "processors", "exporters", "extensions", "connectors"):
        for name in config.get(kind) or {}:
            assert name.split("/")[0] in CONTRIB[kind], f"{kind}: {name} is not a contrib component"
    pipelines = config["service"]["pipelines"]
    assert "metrics" in pipelines
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in config[kind], f"pipeline uses undefined {kind[:-1]} {name}"
    receiver = config["receivers"]["otlp"]["protocols"]
    assert receiver["http"]["endpoint"].endswith(":4318"), "em-metrics pushes OTLP/HTTP to :4318"


def test_the_dashboards_are_built_from_grafana_build_py():
    run("python3", "grafana/build.py", "--check")


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus():
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    compose = (ROOT / "docker-compose.yml").read_text()
    assert provider["providers"][0]["options"]["path"] in compose


def test_the_image_runs_as_non_root_with_a_data_volume_and_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert "distroless" in final_stage.splitlines()[0] or "slim" in final_stage.splitlines()[0]
    assert "USER 65532" in final_stage
    assert 'VOLUME ["/data"]' in final_stage and "WORKDIR /data" in final_stage
    # Not set in the image, so that DATABASE_URL can choose PostgreSQL.
    assert "SQLITE_DB=" not in final_stage
    assert '"healthcheck"' in final_stage.split("HEALTHCHECK", 1)[1]


def test_the_postgres_override_runs_em_metrics_on_a_pinned_postgres_without_its_volume_state():
    env = dict(os.environ, POSTGRES_PASSWORD="compose-pw-8e2")
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "-f", "docker-compose.postgres.yml",
                             "config"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    image = services["postgres"]["image"]
    assert image.startswith("postgres:15.") and image.count(".") >= 1, f"the official image, pinned: {image}"
    em = services["em-metrics"]
    url = em["environment"]["DATABASE_URL"]
    assert url.startswith("postgres://em_metrics:compose-pw-8e2@postgres:5432/em_metrics")
    assert "SQLITE_DB" not in em["environment"], "one store: the image sets no SQLITE_DB either"
    assert "postgres" in em["depends_on"]
    assert services["litestream"].get("profiles") == ["sqlite-backup"], "Litestream is for the SQLite file"
    assert "compose-pw-8e2" not in (ROOT / "docker-compose.postgres.yml").read_text()
    # Without the password the override refuses to render, rather than start an open database.
    bare = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    refused = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "-f", "docker-compose.postgres.yml",
                              "config", "--quiet"], cwd=ROOT, env=bare, capture_output=True, text=True)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr
    # The binary reads that URL: here the host `postgres` does not resolve, and
    # the start stops with one line naming DATABASE_URL, without the password.
    from conftest import binary_path
    start = subprocess.run([binary_path(release=True)], capture_output=True, text=True, timeout=60,
                           env={"PATH": os.environ["PATH"], "DATABASE_URL": url, "EM_METRICS_TOKEN_AUTH": "t",
                                "HOST": "127.0.0.1", "PORT": "0"})
    assert start.returncode == 2, start.stderr
    assert "DATABASE_URL" in start.stderr and "postgres:5432" in start.stderr, start.stderr
    assert "compose-pw-8e2" not in start.stderr + start.stdout
