"""The gateway (nginx, serving the web app and routing to the services), the readiness
aggregator behind it, and nginx's upstreams."""
from __future__ import annotations

from shared.nginx import upstreams as nginx_upstreams

from .common import (DNS_EGRESS, GATEWAY_PORT, HEADER, IMAGE, NGINX_CONFIG_MAP, NGINX_IMAGE,
                     NGINX_UID, PART_OF, POD_NETWORK, POD_SECURITY_CONTEXT,
                     READINESS, SECURITY_CONTEXT, WEB_PORT, WEB_ROOT, labels,
                     meta, selector, tcp)


GATEWAY_LABELS = labels("gateway", "gateway")
GATEWAY_PODS = selector("gateway", "gateway")
READINESS_LABELS = labels(READINESS, "readiness")
READINESS_PODS = selector(READINESS, "readiness")
WEB_PODS = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": "web"}
# Both containers answer /healthz themselves (nginx: deploy/nginx/pupil-progress.conf; the
# aggregator's /readyz is the system's, not its own): both probes ask /healthz.
HEALTH_PROBES = {"livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                   "periodSeconds": 10},
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                    "periodSeconds": 5}}


def nginx_container() -> dict:
    return {
        "name": "nginx",
        "image": NGINX_IMAGE,
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "128Mi"}},
        **HEALTH_PROBES,
        "securityContext": {**SECURITY_CONTEXT, "runAsUser": NGINX_UID,
                            "runAsGroup": NGINX_UID},
        "volumeMounts": [
            {"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True},
            {"name": "web", "mountPath": WEB_ROOT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def web_files_container() -> dict:
    """Copies the web app's files from the project image into the volume nginx serves."""
    return {
        "name": "web-files",
        "image": IMAGE,
        "command": ["cp", "-R", "/app/web/.", WEB_ROOT],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                      "limits": {"memory": "32Mi"}},
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": [{"name": "web", "mountPath": WEB_ROOT}],
    }


def readiness_container(services) -> dict:
    return {
        "name": "readiness",
        "image": IMAGE,
        "command": ["gunicorn", "-c", "deploy/gunicorn.conf.py",
                    "shared.gateway:create_readiness_app()"],
        "ports": [{"name": "http", "containerPort": WEB_PORT, "protocol": "TCP"}],
        "env": [{"name": "PP_WEB_WORKERS", "value": "1"},
                *({"name": f"PP_{svc.upper()}_URL", "value": f"http://{svc}-web:{WEB_PORT}"}
                  for svc in services)],
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"},
                      "limits": {"memory": "128Mi"}},
        **HEALTH_PROBES,
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def two_replicas(name: str, lbls: dict, pods: dict, pod_spec: dict) -> dict:
    """A Deployment of two replicas, its pods' spec as given."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(name, lbls),
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": pods},
                "template": {"metadata": {"labels": lbls}, "spec": pod_spec},
            }}


def service_and_budget(name: str, lbls: dict, pods: dict, port: int) -> list[dict]:
    """Its ClusterIP Service (port -> the pods' "http") and a PodDisruptionBudget keeping
    one pod up."""
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": meta(name, lbls),
         "spec": {"type": "ClusterIP", "selector": pods,
                  "ports": [{"name": "http", "port": port, "targetPort": "http",
                             "protocol": "TCP"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": meta(name, lbls),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": pods}}},
    ]


def policy(name: str, lbls: dict, pods: dict, ingress: list[dict],
           egress: list[dict]) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(name, lbls),
            "spec": {"podSelector": {"matchLabels": pods},
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": ingress, "egress": egress}}


def gateway_part() -> list[dict]:
    """nginx: the edge, serving the web app and routing to the services' web pods."""
    pod_spec = {
        "automountServiceAccountToken": False,
        "securityContext": {**POD_SECURITY_CONTEXT, "runAsUser": NGINX_UID,
                            "runAsGroup": NGINX_UID, "fsGroup": NGINX_UID},
        "initContainers": [web_files_container()],
        "containers": [nginx_container()],
        "volumes": [
            {"name": "conf", "configMap": {"name": NGINX_CONFIG_MAP}},
            {"name": "web", "emptyDir": {"sizeLimit": "16Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    return [
        two_replicas("gateway", GATEWAY_LABELS, GATEWAY_PODS, pod_spec),
        *service_and_budget("gateway", GATEWAY_LABELS, GATEWAY_PODS, GATEWAY_PORT),
        # The edge: whatever Ingress controller or load balancer fronts it.
        policy("gateway", GATEWAY_LABELS, GATEWAY_PODS, [{"ports": tcp(GATEWAY_PORT)}], [
            {"to": [{"podSelector": {"matchLabels": WEB_PODS}},
                    {"podSelector": {"matchLabels": READINESS_PODS}}],
             "ports": tcp(WEB_PORT)},
            DNS_EGRESS,
        ]),
    ]


def readiness_part(services) -> list[dict]:
    """The aggregated /readyz behind nginx: asks every service's web pods."""
    pod_spec = {
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY_CONTEXT,
        "containers": [readiness_container(services)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    return [
        two_replicas(READINESS, READINESS_LABELS, READINESS_PODS, pod_spec),
        *service_and_budget(READINESS, READINESS_LABELS, READINESS_PODS, WEB_PORT),
        policy(READINESS, READINESS_LABELS, READINESS_PODS,
               [{"from": [{"podSelector": {"matchLabels": GATEWAY_PODS}}],
                 "ports": tcp(WEB_PORT)}],
               [{"to": [{"podSelector": {"matchLabels": WEB_PODS}}], "ports": tcp(WEB_PORT)},
                DNS_EGRESS]),
    ]


def gateway_objects(services) -> list[dict]:
    return [*gateway_part(), *readiness_part(services)]


def upstream_address(name: str) -> str:
    if name == "readiness":
        return f"{READINESS}:{WEB_PORT}"
    return f"{name}-web:{WEB_PORT}"


def upstreams() -> str:
    return HEADER + nginx_upstreams(upstream_address, web_root=WEB_ROOT,
                                    edge_proxies=(POD_NETWORK,))
