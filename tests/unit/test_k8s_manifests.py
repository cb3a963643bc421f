"""The Kubernetes manifests in deploy/k8s: schema-valid, complete for every service.

No cluster is needed. Built-in kinds are validated strictly (unknown fields are errors)
against the Kubernetes JSON schemas shipped by `kubernetes-validate`; the operators'
custom resources (KEDA, RabbitMQ, CloudNativePG) are checked field by field here. The
example overlay is rendered by a small kustomize stand-in (resources, including other
kustomization directories, configMapGenerator, namespace, images, patches by name or by
target, and kustomize's default load restrictor) and validated too.
"""
from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
NGINX = ROOT / "deploy" / "nginx"
K8S_VERSION = "1.30"

# Custom resources: no schema in kubernetes-validate, checked by the tests below instead.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
}
CLUSTER_SCOPED = {"Namespace"}


def services_on_disk() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))


# --------------------------------------------------------------------------- loading

def load_docs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


@lru_cache(maxsize=None)
def _generator():
    spec = importlib.util.spec_from_file_location("pp_k8s_generate", K8S / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merge(base, patch):
    """Strategic-merge enough for our patches: maps merge, named lists merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list)
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        out = [copy.deepcopy(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(out)}
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = _merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _group_version(obj: dict) -> tuple[str, str]:
    api = obj["apiVersion"]
    return tuple(api.split("/", 1)) if "/" in api else ("", api)


def _matches(obj: dict, target: dict) -> bool:
    group, version = _group_version(obj)
    return all([
        target.get("group", group) == group,
        target.get("version", version) == version,
        target.get("kind", obj["kind"]) == obj["kind"],
        target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"],
    ])


class Rendered:
    def __init__(self):
        self.objects: list[dict] = []
        self.problems: list[str] = []   # references kustomize would refuse
        self.missing_files: list[Path] = []


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_NAMES if (directory / n).is_file()),
                None)


def _outside_root(directory: Path, path: Path) -> bool:
    """kustomize's default LoadRestrictionsRootOnly: files (resources, patches,
    generator inputs) must lie under the kustomization's own directory; other
    kustomization directories, however, may be anywhere."""
    return not path.resolve().is_relative_to(directory.resolve())


def render(directory: Path, _stack: tuple[Path, ...] = ()) -> Rendered:
    """What `kustomize build directory` would give, for the features used here."""
    out = Rendered()
    directory = directory.resolve()
    kust_file = kustomization_file(directory)
    if kust_file is None:
        out.problems.append(f"{directory}: no kustomization file")
        return out
    if directory in _stack:
        out.problems.append(f"{directory}: cycle through {[str(d) for d in _stack]}")
        return out
    kust = load_docs(kust_file)[0]
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():  # a kustomization of its own, built first, then accumulated
            inner = render(path, (*_stack, directory))
            out.objects += inner.objects
            out.problems += inner.problems
            out.missing_files += inner.missing_files
        elif path.is_file():
            if _outside_root(directory, path):
                out.problems.append(f"{directory}: resource {entry} is outside the root")
            out.objects += load_docs(path)
        else:
            out.problems.append(f"{directory}: resource {entry} does not exist")
    for gen in kust.get("configMapGenerator", []):
        data = {}
        for entry in gen.get("files", []):
            key, _, rel = entry.rpartition("=")
            path = (directory / rel).resolve()
            if _outside_root(directory, path):
                out.problems.append(f"{directory}: configMapGenerator {gen['name']} file "
                                    f"{rel} is outside the root")
            if path.is_file():
                data[key or path.name] = path.read_text(encoding="utf-8")
            else:
                out.missing_files.append(path)
        out.objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": gen["name"]}, "data": data})
    for entry in kust.get("patches", []):
        path = directory / entry["path"]
        if _outside_root(directory, path):
            out.problems.append(f"{directory}: patch {entry['path']} is outside the root")
        if not path.is_file():
            out.problems.append(f"{directory}: patch {entry['path']} does not exist")
            continue
        patch = load_docs(path)[0]
        target = entry.get("target") or {
            "group": _group_version(patch)[0], "version": _group_version(patch)[1],
            "kind": patch["kind"], "name": patch["metadata"]["name"]}
        hits = [n for n, obj in enumerate(out.objects) if _matches(obj, target)]
        if not hits:
            out.problems.append(f"{directory}: patch {entry['path']} matches no object")
        for n in hits:
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
            body["metadata"] = {k: v for k, v in patch["metadata"].items() if k != "name"}
            out.objects[n] = _merge(out.objects[n], body)
    if "namespace" in kust:
        for obj in out.objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kust["namespace"]
    for image in kust.get("images", []):
        used = False
        for obj in out.objects:
            for c in _pod_containers(obj):
                name = re.split(r"[:@]", c["image"], maxsplit=1)[0]
                if name == image["name"]:
                    used = True
                    c["image"] = f"{image.get('newName', name)}:{image['newTag']}"
        if not used:
            out.problems.append(f"{directory}: image {image['name']} is used by no container")
    return out


def _pod_containers(obj: dict) -> list[dict]:
    if obj.get("kind") != "Deployment":
        return []
    spec = obj["spec"]["template"]["spec"]
    return spec.get("containers", []) + spec.get("initContainers", [])


@lru_cache(maxsize=None)
def _base() -> Rendered:
    return render(BASE)


@lru_cache(maxsize=None)
def _overlay() -> Rendered:
    return render(OVERLAY)


def base_objects() -> list[dict]:
    return _base().objects


def find(kind: str, name: str, objects=None) -> dict:
    objects = base_objects() if objects is None else objects
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind} {name}, found {len(hits)}"
    return hits[0]


def all_of(kind: str, objects=None) -> list[dict]:
    objects = base_objects() if objects is None else objects
    return [o for o in objects if o["kind"] == kind]


def selects(selector: dict, pod_labels: dict) -> bool:
    """matchLabels / matchExpressions (In, Exists) against a pod's labels."""
    if not all(pod_labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and pod_labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "Exists" and expr["key"] not in pod_labels:
            return False
    return True


def pod_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


# --------------------------------------------------------------------------- generated

def test_generated_files_are_current():
    gen = _generator()
    stale = [str(p.relative_to(ROOT)) for p in gen.stale(gen.render())]
    assert not stale, ("run `.venv/bin/python deploy/k8s/generate.py`; stale: "
                       + ", ".join(stale))


def test_every_service_directory_is_configured():
    """A new services/<x>/app.py must be added to SERVICES, which generates its objects."""
    assert services_on_disk() == sorted(SERVICES)


def test_every_base_file_is_a_resource():
    resources = [(BASE / r).resolve()
                 for r in load_docs(BASE / "kustomization.yaml")[0]["resources"]]
    listed = {p for p in resources if not p.is_dir()}
    on_disk = {p.resolve() for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk == listed
    # The only directory: the gateway's ConfigMap, generated beside its files.
    assert [p for p in resources if p.is_dir()] == [NGINX.resolve()]


def test_no_file_is_loaded_from_outside_its_kustomization_root():
    """`kubectl apply -k` (LoadRestrictionsRootOnly) must work without flags."""
    for directory in (BASE, OVERLAY, NGINX):
        kust = load_docs(directory / "kustomization.yaml")[0]
        files = [r for r in kust.get("resources", []) if not (directory / r).is_dir()]
        files += [p["path"] for p in kust.get("patches", [])]
        files += [f.rpartition("=")[2] for g in kust.get("configMapGenerator", [])
                  for f in g.get("files", [])]
        outside = [f for f in files if _outside_root(directory, directory / f)]
        assert not outside, f"{directory.relative_to(ROOT)}: {outside}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_overlay_without_flags():
    """The real kustomize, where kubectl is at hand: default load restrictor, and the
    gateway mounts the hash-suffixed ConfigMap."""
    result = subprocess.run(["kubectl", "kustomize", str(OVERLAY)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    gw = find("Deployment", "gateway", objects)
    [name] = [v["configMap"]["name"] for v in gw["spec"]["template"]["spec"]["volumes"]
              if "configMap" in v]
    assert name.startswith("gateway-nginx-")
    cm = find("ConfigMap", name, objects)
    assert set(cm["data"]) == {"pupil-progress.conf", "upstreams.k8s.conf"}
    assert cm["metadata"]["namespace"] == gw["metadata"]["namespace"] == "pupil-progress"


def test_stand_in_refuses_files_outside_the_root(tmp_path):
    """Guards the guard: the renderer reports what kustomize's load restrictor refuses,
    and follows kustomization directories wherever they are."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "a.conf").write_text("a\n")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text(
        "configMapGenerator:\n- name: cm\n  files:\n  - ../shared/a.conf\n")
    rendered = render(tmp_path / "base")
    assert rendered.problems and "outside the root" in rendered.problems[0]

    (tmp_path / "shared" / "kustomization.yaml").write_text(
        "configMapGenerator:\n- name: cm\n  files:\n  - a.conf\n")
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n- ../shared\n")
    rendered = render(tmp_path / "base")
    assert not rendered.problems
    assert find("ConfigMap", "cm", rendered.objects)["data"] == {"a.conf": "a\n"}


# --------------------------------------------------------------------------- schemas

def _validate_all(objects: list[dict], where: str) -> list[str]:
    errors = []
    for obj in objects:
        label = f"{where}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{label}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:  # a warning: fail too
            errors.append(f"{label}: {exc.message}")
    return errors


def _yaml_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_file_validates_strictly(path):
    docs = load_docs(path)
    assert docs, f"{path} holds no object"
    if path.parent.name == "patches":
        return  # partial objects: validated after rendering
    assert not _validate_all(docs, str(path.relative_to(ROOT)))


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_rendered_kustomization_validates_strictly(which):
    rendered = _base() if which == "base" else _overlay()
    assert not rendered.problems
    errors = _validate_all(rendered.objects, which)
    assert not errors, "\n".join(errors)


def test_strict_validation_refuses_unknown_fields():
    """Guards the guard: a misspelt field must fail, not pass silently."""
    bad = copy.deepcopy(find("Deployment", "identity-web"))
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert _validate_all([bad], "mutant")


def test_names_are_unique_per_kind():
    seen = [(o["kind"], o["metadata"]["name"]) for o in _overlay().objects]
    assert len(seen) == len(set(seen))


# --------------------------------------------------------------------------- overlay

def test_overlay_renders_with_namespace_image_and_patches():
    rendered = _overlay()
    assert not rendered.problems
    objects = rendered.objects
    kust = load_docs(OVERLAY / "kustomization.yaml")[0]
    assert kust["namespace"] == "pupil-progress"
    assert find("Namespace", "pupil-progress", objects)
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "pupil-progress"
    tag = next(i for i in kust["images"] if i["name"] == "pupil-progress")
    for svc in SERVICES:
        for component in ("web", "worker"):
            image = find("Deployment", f"{svc}-{component}", objects)[
                "spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == f"{tag['newName']}:{tag['newTag']}"
    assert find("HorizontalPodAutoscaler", "ingest-web", objects)["spec"]["maxReplicas"] == 20
    clusters = all_of("Cluster", objects)
    assert len(clusters) == len(SERVICES) + 1  # and the erasure ledger's
    for cluster in clusters:  # the backup patch reached every database
        store = cluster["spec"]["backup"]["barmanObjectStore"]
        assert store["destinationPath"].startswith("s3://")
        assert cluster["spec"]["bootstrap"]["initdb"]["database"]  # base fields kept
    names = {c["metadata"]["name"] for c in clusters}
    for backup in all_of("ScheduledBackup", objects):
        assert backup["spec"]["cluster"]["name"] in names
    assert {b["spec"]["cluster"]["name"] for b in all_of("ScheduledBackup", objects)} == names


# --------------------------------------------------------------------------- services

@pytest.mark.parametrize("svc", services_on_disk())
def test_service_modules_exist(svc):
    for module in (f"services.{svc}.wsgi", f"services.{svc}.worker"):
        assert importlib.util.find_spec(module) is not None, module


def _container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _port(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def _check_pod_security(deployment: dict, uid: int = 10001):
    pod = deployment["spec"]["template"]["spec"]
    ctx = _container(deployment)["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == uid
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert selects(deployment["spec"]["selector"], pod_labels(deployment))


def _check_common_env(svc: str, container: dict):
    env = env_of(container)
    assert env["PP_BROKER_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pp-broker",
                                                                 "key": "url"}
    url = env[f"PP_{svc.upper()}_DATABASE_URL"]["value"]
    assert url.startswith("postgresql+psycopg://")
    assert f"@pp-{svc}-db-rw:5432/{svc}" in url
    for var in re.findall(r"\$\(([A-Z_]+)\)", url):  # defined before use
        assert var in env and list(env).index(var) < list(env).index(
            f"PP_{svc.upper()}_DATABASE_URL")
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == f"pp-{svc}-db-app"
    assert {"configMapRef": {"name": "pp-config"}} in container["envFrom"]
    if svc == "identity":
        assert env["PP_JWT_PRIVATE_KEY_FILE"]["value"] == "/run/secrets/jwt/private.pem"
        assert "PP_JWKS_URL" not in env
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/run/secrets/jwt")
        assert mount["readOnly"] is True
        # Identity's secret (address hashes, sealed keys) comes from a Secret of its own,
        # the same file in every identity pod, never from the database.
        assert env["PP_IDENTITY_SECRET_FILE"]["value"] == "/run/secrets/identity/secret"
        mount = next(m for m in container["volumeMounts"]
                     if m["mountPath"] == "/run/secrets/identity")
        assert mount["readOnly"] is True
    else:
        assert env["PP_JWKS_URL"]["value"] == "http://identity-web:8000/.well-known/jwks.json"
        assert "PP_JWT_PRIVATE_KEY_FILE" not in env
        assert "PP_IDENTITY_SECRET_FILE" not in env
        # Its receipt keys are sealed by its own key of pp-receipt-secrets, no other's.
        assert env["PP_RECEIPT_SECRET_FILE"]["value"] == "/run/secrets/receipts/secret"
        mount = next(m for m in container["volumeMounts"]
                     if m["mountPath"] == "/run/secrets/receipts")
        assert mount["readOnly"] is True
    smtp = {f"PP_SMTP_{k}" for k in ("HOST", "PORT", "TLS", "USER", "PASSWORD")}
    if svc == "notifications":
        assert smtp <= set(env)
        assert all(env[k]["valueFrom"]["secretKeyRef"]["name"] == "pp-smtp" for k in smtp)
    else:
        assert not smtp & set(env)


@pytest.mark.parametrize("svc", services_on_disk())
def test_web_deployment(svc):
    web = find("Deployment", f"{svc}-web")
    c = _container(web)
    assert c["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py",
                            f"services.{svc}.wsgi:app"]
    assert _port(c, "http") == 8000
    # /metrics on a port of its own, where the scrape annotations point; never the app's.
    assert _port(c, "metrics") == 9100
    assert env_of(c)["PP_METRICS_PORT"]["value"] == "9100"
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9100"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "192Mi"},
                              "limits": {"memory": "512Mi"}}
    _check_pod_security(web)
    _check_common_env(svc, c)

    svc_obj = find("Service", f"{svc}-web")
    assert svc_obj["spec"]["ports"][0]["port"] == 8000
    assert selects({"matchLabels": svc_obj["spec"]["selector"]}, pod_labels(web))

    hpa = find("HorizontalPodAutoscaler", f"{svc}-web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": f"{svc}-web"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = find("PodDisruptionBudget", f"{svc}-web")
    assert pdb["spec"]["minAvailable"] == 1 and selects(pdb["spec"]["selector"],
                                                        pod_labels(web))


@pytest.mark.parametrize("svc", services_on_disk())
def test_worker_deployment_and_scaling(svc):
    worker = find("Deployment", f"{svc}-worker")
    c = _container(worker)
    assert c["command"] == ["python", "-m", f"services.{svc}.worker"]
    assert _port(c, "metrics") == 9100
    assert env_of(c)["PP_METRICS_PORT"]["value"] == "9100"
    assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert c["livenessProbe"]["httpGet"]["port"] in ("metrics", 9100)
    assert c["resources"] == {"requests": {"cpu": "25m", "memory": "160Mi"},
                              "limits": {"memory": "256Mi"}}
    _check_pod_security(worker)
    _check_common_env(svc, c)

    so = find("ScaledObject", f"{svc}-worker")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    target = so["spec"]["scaleTargetRef"]
    assert target["name"] == f"{svc}-worker" and target.get("kind", "Deployment") == "Deployment"
    assert so["spec"]["minReplicaCount"] >= 1  # the rights queue is always consumed
    assert so["spec"]["maxReplicaCount"] >= so["spec"]["minReplicaCount"]
    [trigger] = so["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert meta["queueName"] == f"{svc}.data"
    assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
    assert isinstance(meta["value"], str)  # KEDA metadata values are strings
    find("TriggerAuthentication", trigger["authenticationRef"]["name"])

    pdb = find("PodDisruptionBudget", f"{svc}-worker")
    assert pdb["spec"]["minAvailable"] == 1 and selects(pdb["spec"]["selector"],
                                                        pod_labels(worker))


def _policies_for(labels: dict, direction: str) -> list[dict]:
    return [p for p in all_of("NetworkPolicy")
            if direction in p["spec"]["policyTypes"]
            and selects(p["spec"]["podSelector"], labels)]


def _allows(policies: list[dict], direction: str, peer_labels: dict, port: int,
            namespace: str | None = None) -> bool:
    """Whether some rule lets traffic to/from a pod with peer_labels on port through."""
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in policies:
        for rule in policy["spec"].get(key, []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get(peers_key)
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    if not peer_labels and namespace is None:
                        return True
                    continue
                ns_sel = peer.get("namespaceSelector")
                if namespace is not None:
                    if ns_sel is None or not selects(
                            ns_sel, {"kubernetes.io/metadata.name": namespace}):
                        continue
                    if "podSelector" not in peer:
                        return True
                elif ns_sel not in (None, {}):
                    continue
                if "podSelector" in peer and peer_labels and selects(peer["podSelector"],
                                                                     peer_labels):
                    return True
    return False


@pytest.mark.parametrize("svc", services_on_disk())
def test_network_policies(svc):
    db_pod = {"cnpg.io/cluster": f"pp-{svc}-db"}
    broker_pod = {"app.kubernetes.io/name": "pp-rabbitmq"}
    identity_web = pod_labels(find("Deployment", "identity-web"))
    gateway = pod_labels(find("Deployment", "gateway"))
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for component in ("web", "worker"):
        labels = pod_labels(find("Deployment", f"{svc}-{component}"))
        out = _policies_for(labels, "Egress")
        assert out, f"no egress policy selects {svc}-{component}"
        assert _allows(out, "Egress", db_pod, 5432)
        for other in SERVICES:
            if other != svc:
                assert not _allows(out, "Egress", {"cnpg.io/cluster": f"pp-{other}-db"}, 5432)
        assert _allows(out, "Egress", broker_pod, 5672)
        assert _allows(out, "Egress", {}, 53, namespace="kube-system")
        assert _allows(out, "Egress", identity_web, 8000) == (svc != "identity")
        assert _allows(out, "Egress", {}, 587) == (svc == "notifications")
        assert not _allows(out, "Egress", {}, 443)
        # the other end lets it in
        assert _allows(_policies_for(db_pod, "Ingress"), "Ingress", labels, 5432)
        assert _allows(_policies_for(broker_pod, "Ingress"), "Ingress", labels, 5672)
        if svc != "identity":
            assert _allows(_policies_for(identity_web, "Ingress"), "Ingress", labels, 8000)
    web = pod_labels(find("Deployment", f"{svc}-web"))
    into_web = _policies_for(web, "Ingress")
    assert _allows(into_web, "Ingress", gateway, 8000)
    assert _allows(_policies_for(gateway, "Egress"), "Egress", web, 8000)
    # Prometheus scrapes the web pods' metrics port only: the app's port stays closed to it,
    # and the gateway never reaches the metrics port.
    assert _allows(into_web, "Ingress", prometheus, 9100)
    assert not _allows(into_web, "Ingress", prometheus, 8000)
    assert not _allows(into_web, "Ingress", gateway, 9100)
    readiness = pod_labels(find("Deployment", "gateway-readiness"))
    assert not _allows(into_web, "Ingress", readiness, 9100)
    worker = pod_labels(find("Deployment", f"{svc}-worker"))
    into_worker = _policies_for(worker, "Ingress")
    assert _allows(into_worker, "Ingress", prometheus, 9100)
    assert not _allows(into_worker, "Ingress", gateway, 9100)


def test_default_deny():
    deny = [p for p in all_of("NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1
    spec = deny[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress") and not spec.get("egress")


# --------------------------------------------------------------------------- operators

def test_broker():
    rmq = find("RabbitmqCluster", "pp-rabbitmq")
    assert rmq["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rmq["spec"]["replicas"] == 3
    assert rmq["spec"]["persistence"]["storage"]
    assert rmq["spec"]["resources"]["limits"]["memory"]
    assert "rabbitmq_prometheus" in rmq["spec"]["rabbitmq"]["additionalPlugins"]
    auth = find("TriggerAuthentication", "pp-broker")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": "pp-broker",
                                                "key": "url"}]
    names = {o["metadata"]["name"] for o in all_of("ScaledObject")}
    assert names == {f"{svc}-worker" for svc in SERVICES}


@pytest.mark.parametrize("svc", services_on_disk())
def test_database_cluster(svc):
    cluster = find("Cluster", f"pp-{svc}-db")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2
    assert cluster["spec"]["storage"]["size"]
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": svc, "owner": svc}
    assert "backup" not in cluster["spec"]  # the overlay says where backups go


# --------------------------------------------------------------------------- gateway

UPSTREAM = re.compile(r"upstream\s+([\w-]+)\s*\{([^}]*)\}")


def _config_map_generators(directory: Path) -> list[tuple[Path, dict]]:
    """(kustomization directory, generator) for directory and the kustomization
    directories it includes, recursively."""
    directory = directory.resolve()
    kust = load_docs(kustomization_file(directory))[0]
    found = [(directory, g) for g in kust.get("configMapGenerator", [])]
    for entry in kust.get("resources", []):
        if (directory / entry).is_dir():
            found += _config_map_generators(directory / entry)
    return found


def test_gateway_config_map_and_upstreams():
    [(where, gen)] = [(d, g) for d, g in _config_map_generators(BASE)
                      if g["name"] == "gateway-nginx"]
    assert where == NGINX.resolve()  # generated beside its files: no load restrictor flag
    files = {f.rpartition("=")[0] or Path(f).name: (where / f.rpartition("=")[2]).resolve()
             for f in gen["files"]}
    upstreams_conf = NGINX / "upstreams.k8s.conf"
    site_conf = NGINX / "pupil-progress.conf"
    assert files == {"upstreams.k8s.conf": upstreams_conf.resolve(),
                     "pupil-progress.conf": site_conf.resolve()}

    upstreams = dict(UPSTREAM.findall(upstreams_conf.read_text(encoding="utf-8")))
    assert sorted(upstreams) == sorted([*SERVICES, "readiness"])
    for svc in SERVICES:
        assert re.search(rf"\bserver\s+{svc}-web:8000;", upstreams[svc]), svc
        find("Service", f"{svc}-web")
    # The aggregated /readyz: a Service whose pods ask every service's /readyz.
    [(host, port)] = re.findall(r"\bserver\s+([\w-]+):(\d+);", upstreams["readiness"])
    ready_svc = find("Service", host)
    assert ready_svc["spec"]["ports"][0]["port"] == int(port)
    [ready] = [d for d in all_of("Deployment")
               if selects({"matchLabels": ready_svc["spec"]["selector"]}, pod_labels(d))]
    c = _container(ready)
    assert c["command"][-1] == "shared.gateway:create_readiness_app()"
    assert importlib.util.find_spec("shared.gateway") is not None
    env = env_of(c)
    for svc in SERVICES:
        assert env[f"PP_{svc.upper()}_URL"]["value"] == f"http://{svc}-web:8000"
        web = pod_labels(find("Deployment", f"{svc}-web"))
        assert _allows(_policies_for(web, "Ingress"), "Ingress", pod_labels(ready), 8000)
        assert _allows(_policies_for(pod_labels(ready), "Egress"), "Egress", web, 8000)
    _check_pod_security(ready)
    assert _allows(_policies_for(pod_labels(find("Deployment", "gateway")), "Egress"),
                   "Egress", pod_labels(ready), int(port))
    if site_conf.exists():  # written separately: its upstream names must be ours
        used = set(re.findall(r"proxy_pass\s+https?://([\w-]+)", site_conf.read_text()))
        assert used and used <= set(upstreams), used - set(upstreams)
    else:
        assert site_conf in _base().missing_files

    gw = find("Deployment", "gateway")
    c = _container(gw)
    assert _port(c, "http") == 8080
    volumes = {v["name"]: v for v in gw["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/nginx/conf.d")
    assert volumes[mount["name"]]["configMap"]["name"] == "gateway-nginx"
    for objects in (base_objects(), _overlay().objects):  # the reference resolves
        gw_r = find("Deployment", "gateway", objects)
        vols = {v["name"]: v for v in gw_r["spec"]["template"]["spec"]["volumes"]}
        cm = find("ConfigMap", vols[mount["name"]]["configMap"]["name"], objects)
        assert cm["metadata"].get("namespace") == gw_r["metadata"].get("namespace")
        assert set(cm["data"]) == set(files) - ({site_conf.name}
                                                 if not site_conf.exists() else set())
    _check_pod_security(gw, uid=c["securityContext"]["runAsUser"])
    svc_obj = find("Service", "gateway")
    assert svc_obj["spec"]["ports"][0]["port"] == 8080
    assert selects({"matchLabels": svc_obj["spec"]["selector"]}, pod_labels(gw))


# --------------------------------------------------------------------------- README

def test_readme_names_every_secret_to_create():
    """Secrets the manifests read but nothing here creates must be in the README."""
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    names = set()
    for obj in _overlay().objects:
        for c in _pod_containers(obj):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    names.add(ref["name"])
        if obj["kind"] == "Deployment":
            for v in obj["spec"]["template"]["spec"].get("volumes", []):
                if "secret" in v:
                    names.add(v["secret"]["secretName"])
        if obj["kind"] == "TriggerAuthentication":
            names |= {r["name"] for r in obj["spec"]["secretTargetRef"]}
        if obj["kind"] == "Cluster":
            creds = obj["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]
            names |= {ref["name"] for ref in creds.values()}
    made_by_cnpg = {f"pp-{svc}-db-app" for svc in (*SERVICES, "erasure-ledger")}
    missing = sorted(n for n in names - made_by_cnpg if f"`{n}`" not in readme)
    assert not missing


def test_gateway_serves_the_web_app_from_the_project_image():
    """nginx's root (upstreams.k8s.conf) is a volume an init container fills with web/
    from the project image, which holds web/ (Dockerfile): the app ships with the API."""
    [root] = re.findall(r"^root\s+(\S+);", (NGINX / "upstreams.k8s.conf").read_text(),
                        re.MULTILINE)
    gateway = find("Deployment", "gateway")["spec"]["template"]["spec"]
    [nginx] = gateway["containers"]
    [served] = [m for m in nginx["volumeMounts"] if m["mountPath"] == root]
    [copier] = gateway["initContainers"]
    assert copier["image"] == "pupil-progress"
    assert copier["command"][-2:] == ["/app/web/.", root]
    assert {"name": served["name"], "mountPath": root} in copier["volumeMounts"]
    assert served["name"] in {v["name"] for v in gateway["volumes"] if "emptyDir" in v}
    assert re.search(r"^COPY web \./web$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert re.search(r"^WORKDIR /app$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
