"""The erasure ledger (shared/erasure_ledger.py): a CloudNativePG cluster of its own, which
no restore of a service's database touches."""
from __future__ import annotations

from shared.erasure_ledger import RECORDERS

from .common import (API_EGRESS, DNS_EGRESS, LEDGER, LEDGER_DB, NS_CNPG, PART_OF, PROMETHEUS,
                     db_cluster, labels, meta, ns_peer, tcp)


def ledger_objects() -> list[dict]:
    """The erasure ledger's own database cluster (ids only, a few rows per erasure and
    offboarding), reached by the pods of the services that write it, and its policy."""
    cluster = db_cluster(LEDGER)
    db_pods = {"cnpg.io/cluster": cluster}
    writers = {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": sorted(RECORDERS)},
        {"key": "app.kubernetes.io/part-of", "operator": "In", "values": [PART_OF]},
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["web", "worker"]},
    ]}
    return [
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
         "metadata": meta(cluster, labels(LEDGER, "database")),
         "spec": {
             "instances": 3,
             "primaryUpdateStrategy": "unsupervised",
             "storage": {"size": "2Gi"},
             "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                           "limits": {"memory": "512Mi"}},
             # Every web and worker pod of its writers keeps a pool (5 + overflow 10).
             "postgresql": {"parameters": {"max_connections": "500"}},
             "bootstrap": {"initdb": {"database": LEDGER_DB, "owner": LEDGER_DB}},
         }},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(cluster, labels(LEDGER, "database")),
         "spec": {"podSelector": {"matchLabels": db_pods},
                  "policyTypes": ["Ingress", "Egress"],
                  "ingress": [
                      {"from": [{"podSelector": writers},
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
