"""Every service's objects, all of one shape: web and worker Deployments, Service, HPA,
KEDA ScaledObject, PDBs, NetworkPolicies and its own CloudNativePG cluster."""
from __future__ import annotations

from shared.erasure_ledger import RECORDERS

from .common import (API_EGRESS, BROKER, DNS_EGRESS, IMAGE, LEDGER, LEDGER_DB, METRICS_PORT,
                     NS_CNPG, PART_OF, POD_SECURITY_CONTEXT, PROMETHEUS,
                     READINESS, SECURITY_CONTEXT, WEB_PORT, db_cluster, labels,
                     meta, ns_peer, secret_env, selector, tcp)


# Every service but identity: a key per service (its name) of one Secret.
RECEIPT_SECRETS = "pp-receipt-secrets"
RECEIPT_SECRET_DIR = "/run/secrets/receipts"
RECEIPT_SECRET_FILE = f"{RECEIPT_SECRET_DIR}/secret"


# Interactive requests before bulk work (issue 27, docs/decisions.md): under contention a
# container's CPU share follows its request (cgroup cpu.weight), so a worker requests a
# quarter of a web pod's and takes the rest only while the node has it idle (no CPU
# limit on either). A worker also lowers its own niceness (shared/worker.py), which counts
# only among the processes of its own container.
WEB_CPU, WORKER_CPU = "100m", "25m"


def env_for(svc: str, component: str) -> list[dict]:
    db = db_cluster(svc)
    env = [
        secret_env("PP_BROKER_URL", "pp-broker", "url"),
        # CloudNativePG's `<cluster>-app` secret; its `uri` key says postgresql://, which
        # SQLAlchemy maps to psycopg2 (not installed), so the URL is put together here
        # with the psycopg 3 driver (README "Database URLs").
        secret_env("DB_USER", f"{db}-app", "username"),
        secret_env("DB_PASSWORD", f"{db}-app", "password"),
        {"name": f"PP_{svc.upper()}_DATABASE_URL",
         "value": f"postgresql+psycopg://$(DB_USER):$(DB_PASSWORD)@{db}-rw:5432/{svc}"},
        {"name": "PP_DATA_DIR", "value": "/tmp/pp"},
    ]
    if svc in RECORDERS:
        ledger = db_cluster(LEDGER)
        env += [
            secret_env("LEDGER_USER", f"{ledger}-app", "username"),
            secret_env("LEDGER_PASSWORD", f"{ledger}-app", "password"),
            {"name": "PP_ERASURE_LEDGER_URL",
             "value": f"postgresql+psycopg://$(LEDGER_USER):$(LEDGER_PASSWORD)@{ledger}-rw"
                      f":5432/{LEDGER_DB}"},
        ]
    if svc == "identity":
        env += [
            {"name": "PP_JWT_PRIVATE_KEY_FILE", "value": "/run/secrets/jwt/private.pem"},
            # Keys what identity keeps hashed or sealed in its database; never in it.
            {"name": "PP_IDENTITY_SECRET_FILE", "value": "/run/secrets/identity/secret"},
            secret_env("PP_BOOTSTRAP_OPERATOR_EMAIL", "pp-bootstrap-operator", "email",
                       optional=True),
            secret_env("PP_BOOTSTRAP_OPERATOR_PASSWORD", "pp-bootstrap-operator",
                       "password", optional=True),
        ]
    else:
        env.append({"name": "PP_JWKS_URL",
                    "value": f"http://identity-web:{WEB_PORT}/.well-known/jwks.json"})
        # Seals the service's receipt signing keys in its database (identity's are sealed
        # by its own secret); never in the database.
        env.append({"name": "PP_RECEIPT_SECRET_FILE", "value": RECEIPT_SECRET_FILE})
    if svc == "notifications":
        env += [
            secret_env("PP_SMTP_HOST", "pp-smtp", "host"),
            secret_env("PP_SMTP_PORT", "pp-smtp", "port"),
            secret_env("PP_SMTP_TLS", "pp-smtp", "tls"),
            secret_env("PP_SMTP_USER", "pp-smtp", "user", optional=True),
            secret_env("PP_SMTP_PASSWORD", "pp-smtp", "password", optional=True),
        ]
    # Both serve /metrics on a port of their own: the web process never on its app port.
    env.append({"name": "PP_METRICS_PORT", "value": str(METRICS_PORT)})
    return env


def volumes_for(svc: str) -> tuple[list[dict], list[dict]]:
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if svc == "identity":
        volumes.append({"name": "jwt", "secret": {"secretName": "pp-jwt-signing",
                                                  "defaultMode": 0o440}})
        mounts.append({"name": "jwt", "mountPath": "/run/secrets/jwt", "readOnly": True})
        volumes.append({"name": "identity-secret", "secret": {
            "secretName": "pp-identity-secret", "defaultMode": 0o440}})
        mounts.append({"name": "identity-secret", "mountPath": "/run/secrets/identity",
                       "readOnly": True})
    else:  # the service's own key of pp-receipt-secrets, and no other service's
        volumes.append({"name": "receipt-secret", "secret": {
            "secretName": RECEIPT_SECRETS, "defaultMode": 0o440,
            "items": [{"key": svc, "path": "secret"}]}})
        mounts.append({"name": "receipt-secret", "mountPath": RECEIPT_SECRET_DIR,
                       "readOnly": True})
    return volumes, mounts


# Both components' pods are scraped by Prometheus on their metrics port.
SCRAPED = {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
           "prometheus.io/path": "/metrics"}


def web_container(svc: str, mounts: list[dict]) -> dict:
    return {
        "name": "web",
        "image": IMAGE,
        "command": ["gunicorn", "-c", "deploy/gunicorn.conf.py", f"services.{svc}.wsgi:app"],
        "ports": [{"name": "http", "containerPort": WEB_PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "env": env_for(svc, "web"),
        "envFrom": [{"configMapRef": {"name": "pp-config"}}],
        "resources": {"requests": {"cpu": WEB_CPU, "memory": "192Mi"},
                      "limits": {"memory": "512Mi"}},
        # Migrations run at start-up: the startup probe gives them time.
        "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                         "periodSeconds": 5, "failureThreshold": 36},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 10, "timeoutSeconds": 3,
                          "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                           "periodSeconds": 5, "timeoutSeconds": 3,
                           "failureThreshold": 2},
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": mounts,
    }


def worker_container(svc: str, mounts: list[dict]) -> dict:
    return {
        "name": "worker",
        "image": IMAGE,
        "command": ["python", "-m", f"services.{svc}.worker"],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "env": env_for(svc, "worker"),
        "envFrom": [{"configMapRef": {"name": "pp-config"}}],
        "resources": {"requests": {"cpu": WORKER_CPU, "memory": "160Mi"},
                      "limits": {"memory": "256Mi"}},
        "startupProbe": {"httpGet": {"path": "/metrics", "port": "metrics"},
                         "periodSeconds": 5, "failureThreshold": 36},
        "livenessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"},
                          "periodSeconds": 15, "timeoutSeconds": 5,
                          "failureThreshold": 4},
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": mounts,
    }


# component -> (its container, replicas, termination grace seconds, the rollout's surge).
COMPONENTS = {"web": (web_container, 2, 30, "25%"), "worker": (worker_container, 1, 60, 1)}


def deployment(svc: str, component: str) -> dict:
    volumes, mounts = volumes_for(svc)
    container, replicas, grace, surge = COMPONENTS[component]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(f"{svc}-{component}", labels(svc, component)),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}},
            "selector": {"matchLabels": selector(svc, component)},
            "template": {
                "metadata": {"labels": labels(svc, component), "annotations": SCRAPED},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": POD_SECURITY_CONTEXT,
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector(svc, component)},
                    }],
                    "containers": [container(svc, mounts)],
                    "volumes": volumes,
                },
            },
        },
    }


def service(svc: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(f"{svc}-web", labels(svc, "web")),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(svc, "web"),
            "ports": [{"name": "http", "port": WEB_PORT, "targetPort": "http",
                       "protocol": "TCP"}],
        },
    }


def hpa(svc: str) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(f"{svc}-web", labels(svc, "web")),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": f"{svc}-web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
    }


def scaled_object(svc: str) -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(f"{svc}-worker", labels(svc, "worker")),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": f"{svc}-worker"},
            # Never 0: the rights queue must always be consumed.
            "minReplicaCount": 1,
            "maxReplicaCount": 6,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": [{
                "type": "rabbitmq",
                "metadata": {"protocol": "amqp", "mode": "QueueLength", "value": "200",
                             "queueName": f"{svc}.data"},
                "authenticationRef": {"name": "pp-broker"},
            }],
        },
    }


def pdb(svc: str, component: str) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(f"{svc}-{component}", labels(svc, component)),
        "spec": {"minAvailable": 1,
                 "selector": {"matchLabels": selector(svc, component)}},
    }


def network_policies(svc: str) -> list[dict]:
    own = {"app.kubernetes.io/name": svc, "app.kubernetes.io/part-of": PART_OF}
    egress = [
        {"to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": db_cluster(svc)}}}],
         "ports": tcp(5432)},
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": BROKER}}}],
         "ports": tcp(5672)},
        DNS_EGRESS,
    ]
    if svc in RECORDERS:
        egress.append({"to": [{"podSelector": {"matchLabels": {
            "cnpg.io/cluster": db_cluster(LEDGER)}}}], "ports": tcp(5432)})
    if svc != "identity":
        egress.append({"to": [{"podSelector": {"matchLabels": selector("identity", "web")}}],
                       "ports": tcp(WEB_PORT)})
    if svc == "notifications":
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(587, 465)})
    web_from = [{"podSelector": {"matchLabels": selector("gateway", "gateway")}},
                {"podSelector": {"matchLabels": selector(READINESS, "readiness")}}]
    if svc == "identity":  # every service fetches the JWKS
        web_from.append({"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}})
    db = db_cluster(svc)
    db_pods = {"cnpg.io/cluster": db}
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(f"{svc}-egress", labels(svc, "policy")),
         "spec": {"podSelector": {"matchLabels": own}, "policyTypes": ["Egress"],
                  "egress": egress}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(f"{svc}-web-ingress", labels(svc, "policy")),
         "spec": {"podSelector": {"matchLabels": selector(svc, "web")},
                  "policyTypes": ["Ingress"],
                  # Prometheus reaches the metrics port only, never the app's.
                  "ingress": [{"from": web_from, "ports": tcp(WEB_PORT)},
                              {"from": [PROMETHEUS], "ports": tcp(METRICS_PORT)}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(f"{svc}-worker-ingress", labels(svc, "policy")),
         "spec": {"podSelector": {"matchLabels": selector(svc, "worker")},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"from": [PROMETHEUS], "ports": tcp(METRICS_PORT)}]}},
        # The service's database: its own pods, its replicas, the operator, monitoring.
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(db, labels(svc, "database")),
         "spec": {"podSelector": {"matchLabels": db_pods},
                  "policyTypes": ["Ingress", "Egress"],
                  "ingress": [
                      {"from": [{"podSelector": {"matchLabels": own}},
                                {"podSelector": {"matchLabels": db_pods}}],
                       "ports": tcp(5432)},
                      {"from": [ns_peer(NS_CNPG)], "ports": tcp(8000)},
                      {"from": [PROMETHEUS], "ports": tcp(9187)},
                  ],
                  "egress": [
                      {"to": [{"podSelector": {"matchLabels": db_pods}}],
                       "ports": tcp(5432, 8000)},
                      DNS_EGRESS,
                      API_EGRESS,
                  ]}},
    ]


def cnpg_cluster(svc: str) -> dict:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": meta(db_cluster(svc), labels(svc, "database")),
        "spec": {
            "instances": 3,
            "primaryUpdateStrategy": "unsupervised",
            "storage": {"size": "10Gi"},
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                          "limits": {"memory": "1Gi"}},
            # Up to 10 web pods x 2 gunicorn workers x (pool 5 + overflow 10), plus workers.
            "postgresql": {"parameters": {"max_connections": "500"}},
            "bootstrap": {"initdb": {"database": svc, "owner": svc}},
        },
    }

def service_objects(svc: str) -> list[dict]:
    return [
        deployment(svc, "web"), service(svc), hpa(svc), pdb(svc, "web"),
        deployment(svc, "worker"), scaled_object(svc), pdb(svc, "worker"),
        *network_policies(svc),
        cnpg_cluster(svc),
    ]
