"""deploy/ checked as far as this machine can without Docker or a cluster: the compose file
against the Compose Specification's JSON schema (vendored here with its license) and for what
the recipe promises; the Caddyfile with `caddy validate` (Debian's caddy) and for its routes;
the Kubernetes manifests parsed and checked for probes, limits, both ports and a non-root
security context (rendered with `kubectl kustomize` when kubectl is installed); the Dockerfile
for a non-root user, no dev extras and a HEALTHCHECK; the systemd unit with
`systemd-analyze verify`. Every PDV_* variable the recipes set is a real setting."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
HERE = Path(__file__).resolve().parent
NODES = ("node1", "node2")
HTTP_PORT, WS_PORT = 8000, 8001
ENV_NAME = re.compile(r"\bPDV_[A-Z0-9_]+\b")
# Variables of the recipes that are not settings: pdv-alert reads PDV_CONFIG_FILE itself, the
# rest are compose's own .env values.
NOT_SETTINGS = {"PDV_CONFIG_FILE", "PDV_DOMAIN", "PDV_DB_PASSWORD", "PDV_VERSION"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return document


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s by kind (one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") != "Kustomization":
                assert document["kind"] not in found, f"two {document['kind']} objects"
                found[document["kind"]] = document
    return found


def pod_spec(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = manifests()[kind]["spec"]["template"]["spec"]
    return spec


# -- compose ------------------------------------------------------------------------------


def test_the_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    """deploy/compose.yml validates against the Compose Specification's JSON schema, and the
    schema is not vacuous: a misspelt service key fails it."""
    schema = json.loads((HERE / "compose-spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    document = compose()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    broken = {**document, "services": {**document["services"], "node1": {"imagee": "x"}}}
    assert list(validator.iter_errors(broken))


def test_compose_runs_the_migration_once_before_two_nodes_without_it() -> None:
    """PostgreSQL, Redis, a one-shot `migrate`, two nodes started with `serve --no-migrate`
    on 0.0.0.0 after the migration succeeded, each with its own node name, and Caddy."""
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", *NODES, "caddy"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    names = set()
    for name in NODES:
        node = services[name]
        assert node["command"] == ["serve", "--no-migrate"]
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        environment = node["environment"]
        assert environment["PDV_HOST"] == "0.0.0.0"
        assert (environment["PDV_PORT"], environment["PDV_WS_PORT"]) == (
            str(HTTP_PORT),
            str(WS_PORT),
        )
        assert environment["PDV_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["PDV_BUS_URL"].startswith("redis://redis:")
        assert "ports" not in node, "only the proxy is published"
        names.add(environment["PDV_NODE_NAME"])
    assert len(names) == len(NODES)


def test_compose_believes_forwarded_headers_only_from_caddy() -> None:
    """The nodes' trusted_proxies is Caddy's fixed address, inside the metrics network, and
    Caddy mounts the Caddyfile of this directory and publishes 80 and 443."""
    services = compose()["services"]
    caddy = services["caddy"]
    address = caddy["networks"]["backend"]["ipv4_address"]
    environment = services["node1"]["environment"]
    assert json.loads(environment["PDV_TRUSTED_PROXIES"]) == [address]
    assert environment["PDV_METRICS_TOKEN"].startswith("${PDV_METRICS_TOKEN:?")
    assert any(m.startswith("./Caddyfile:/etc/caddy/Caddyfile") for m in caddy["volumes"])
    assert {"80:80", "443:443"} <= set(caddy["ports"])


# -- Caddyfile ----------------------------------------------------------------------------


def test_the_caddyfile_sends_ws_to_the_gateway_port_and_the_rest_to_http() -> None:
    """/ws goes to each node's ws_port, everything else to its port, both with health checks
    on /api/v1/ready; /metrics is not served through the proxy."""
    text = (DEPLOY / "Caddyfile").read_text()
    ws_upstreams = " ".join(f"{node}:{WS_PORT}" for node in NODES)
    http_upstreams = " ".join(f"{node}:{HTTP_PORT}" for node in NODES)
    assert re.search(rf"@ws path /ws /ws/\*\s+reverse_proxy @ws {ws_upstreams} \{{", text)
    assert re.search(rf"^\s+reverse_proxy {http_upstreams} \{{", text, re.M)
    assert text.count("health_uri /api/v1/ready") == 2
    assert f"health_port {HTTP_PORT}" in text
    assert re.search(r"@metrics path /metrics.*\n\s+respond @metrics 404", text)


def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    """`caddy validate` accepts deploy/Caddyfile (skipped where caddy is not installed:
    `apt-get install caddy`)."""
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PDV_DOMAIN": "larm.koping.se",
    }
    result = subprocess.run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


# -- Kubernetes ---------------------------------------------------------------------------


def test_the_manifests_hold_every_object_of_the_recipe() -> None:
    """deploy/k8s parses and holds a Deployment, Service, Ingress, PodDisruptionBudget, the
    migration Job and the ConfigMap; the kustomization lists every file but the Job's."""
    found = manifests()
    assert {"Deployment", "Service", "Ingress", "PodDisruptionBudget", "Job", "ConfigMap"} <= set(
        found
    )
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "migrate-job.yaml"}
    assert listed == files


def test_the_deployment_has_both_ports_probes_limits_and_no_root() -> None:
    """Each node container: ports 8000 and 8001, liveness and startup on /api/v1/health,
    readiness on /api/v1/ready, CPU and memory requests and limits, `serve --no-migrate`, a
    non-root user without privilege escalation and a read-only root filesystem."""
    spec = pod_spec("Deployment")
    (container,) = spec["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": HTTP_PORT, "ws": WS_PORT}
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound])
    assert container["args"] == ["serve", "--no-migrate"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    env = {item["name"]: item for item in container["env"]}
    assert env["PDV_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_migration_job_runs_migrate_as_non_root() -> None:
    """The Job runs `migrate` with the nodes' settings, as a non-root user, with limits."""
    spec = pod_spec("Job")
    (container,) = spec["containers"]
    assert container["args"] == ["migrate"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    node = pod_spec("Deployment")["containers"][0]
    assert container["envFrom"] == node["envFrom"]
    assert container["image"] == node["image"]


def test_service_ingress_and_budget_point_at_the_nodes() -> None:
    """The Service exposes both named ports, the Ingress sends /ws to the ws port and / to
    http with WebSocket timeouts far above the 20 s heartbeat, and the PodDisruptionBudget
    selects the Deployment's pods and lets at most one go at a time."""
    found = manifests()
    labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = found["Service"]["spec"]
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["ports"]} == {
        ("http", HTTP_PORT, "http"),
        ("ws", WS_PORT, "ws"),
    }
    assert service["selector"].items() <= labels.items()
    ingress = found["Ingress"]
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["port"]["name"] for p in rule["http"]["paths"]}
    assert routes == {"/ws": "ws", "/": "http"}
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 60
    budget = found["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["maxUnavailable"] == 1


def test_kubectl_renders_the_kustomization() -> None:
    """`kubectl kustomize deploy/k8s` renders every listed object into the namespace (skipped
    where kubectl is not installed)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {d["kind"] for d in rendered} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
    }
    assert {d["metadata"]["namespace"] for d in rendered} == {"pdv-alert"}


# -- Dockerfile ---------------------------------------------------------------------------


def final_stage(text: str) -> str:
    return text[text.rindex("\nFROM ") :]


def test_the_dockerfile_runs_slim_as_non_root_without_dev_extras() -> None:
    """The image ends on python:3.11-slim, switches to a numeric non-root USER, installs the
    package without extras (no [dev], no desktop Qt), has a HEALTHCHECK on /api/v1/health,
    exposes both ports and serves with --no-migrate."""
    text = (DEPLOY / "Dockerfile").read_text()
    final = final_stage(text)
    assert final.startswith("\nFROM python:3.11-slim")
    (user,) = re.findall(r"^USER (\S+)$", final, re.M)
    assert user.split(":")[0] not in ("root", "0")
    installs = re.findall(r"^RUN .*pip install ([^\n\\]*)", text, re.M)
    assert installs == [". "], "one install of the package itself, without extras"
    assert re.search(r"^HEALTHCHECK .*\n?.*/api/v1/health", final, re.M)
    assert re.search(rf"^EXPOSE {HTTP_PORT} {WS_PORT}$", final, re.M)
    assert 'CMD ["serve", "--no-migrate"]' in final
    assert "COPY tests" not in text and "COPY . " not in text


# -- systemd ------------------------------------------------------------------------------


def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing wrong with deploy/pdv-alert.service (its
    ExecStart pointed at an executable that exists here); skipped without systemd."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / "pdv-alert.service").read_text()
    assert re.search(r"^User=pdv-alert$", text, re.M)
    assert re.search(r"^Environment=PDV_NODE_NAME=%H$", text, re.M)
    unit = tmp_path / "pdv-alert.service"
    unit.write_text(text.replace("/opt/pdv-alert/.venv/bin/pdv-alert serve", "/bin/true"))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "ignoring" not in result.stderr, result.stderr


# -- settings -----------------------------------------------------------------------------


def test_every_pdv_variable_of_the_recipes_is_a_setting() -> None:
    """Each PDV_* name in the compose file, the manifests, the Dockerfile and the systemd
    unit names a field of server/settings.py (a typo would be refused at start-up)."""
    fields = {f"PDV_{name.upper()}" for name in Settings.model_fields}
    sources = [
        DEPLOY / "compose.yml",
        DEPLOY / "Dockerfile",
        DEPLOY / "pdv-alert.service",
        *K8S.glob("*.yaml"),
    ]
    used = {name for path in sources for name in ENV_NAME.findall(path.read_text())}
    assert used - NOT_SETTINGS <= fields, sorted(used - NOT_SETTINGS - fields)
    assert {"PDV_HOST", "PDV_METRICS_TOKEN", "PDV_NODE_NAME"} <= used
