"""The objects deploy/k8s/generate.py writes, by kind: common (names, labels, security
contexts), cluster (namespace policies, broker), services (one shape for every service),
ledger (the erasure ledger's database), gateway (nginx and the readiness aggregator)."""
