"""The namespace's own objects (default-deny policy, shared configuration) and the broker."""
from __future__ import annotations

from .common import (API_EGRESS, BROKER, DNS_EGRESS, NS_KEDA, NS_RABBITMQ_OPERATOR, PART_OF,
                     POD_NETWORK, PROMETHEUS, meta, ns_peer, tcp)


def namespace_objects() -> list[dict]:
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta("default-deny", {"app.kubernetes.io/part-of": PART_OF}),
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": meta("pp-config", {"app.kubernetes.io/part-of": PART_OF}),
         "data": {"PP_PUBLIC_URL": "https://pupil-progress.example.invalid",
                  "PP_LOG_LEVEL": "INFO", "PP_TRUSTED_PROXIES": POD_NETWORK}},
    ]


def broker_objects() -> list[dict]:
    pods = {"app.kubernetes.io/name": BROKER}
    app_pods = {"matchExpressions": [
        {"key": "app.kubernetes.io/part-of", "operator": "In", "values": [PART_OF]},
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["web", "worker"]},
    ]}
    return [
        {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
         "metadata": meta("pp-broker", {"app.kubernetes.io/part-of": PART_OF}),
         "spec": {"secretTargetRef": [{"parameter": "host", "name": "pp-broker",
                                       "key": "url"}]}},
        {"apiVersion": "rabbitmq.com/v1beta1", "kind": "RabbitmqCluster",
         "metadata": meta(BROKER, {"app.kubernetes.io/part-of": PART_OF}),
         "spec": {
             "replicas": 3,
             "resources": {"requests": {"cpu": "500m", "memory": "2Gi"},
                           "limits": {"cpu": "2", "memory": "2Gi"}},
             "persistence": {"storage": "20Gi"},
             "rabbitmq": {
                 "additionalPlugins": ["rabbitmq_management", "rabbitmq_prometheus"],
             },
             "affinity": {"podAntiAffinity": {
                 "preferredDuringSchedulingIgnoredDuringExecution": [{
                     "weight": 100,
                     "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                         "labelSelector": {"matchLabels": pods}}}]}},
         }},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": meta(BROKER, {"app.kubernetes.io/part-of": PART_OF}),
         "spec": {
             "podSelector": {"matchLabels": pods},
             "policyTypes": ["Ingress", "Egress"],
             "ingress": [
                 {"from": [{"podSelector": app_pods}], "ports": tcp(5672)},
                 {"from": [{"podSelector": {"matchLabels": pods}}]},  # clustering
                 {"from": [ns_peer(NS_KEDA)], "ports": tcp(5672)},
                 {"from": [ns_peer(NS_RABBITMQ_OPERATOR)], "ports": tcp(15672)},
                 {"from": [PROMETHEUS], "ports": tcp(15692)},
             ],
             "egress": [
                 {"to": [{"podSelector": {"matchLabels": pods}}]},
                 DNS_EGRESS,
                 API_EGRESS,  # peer discovery
             ],
         }},
    ]
