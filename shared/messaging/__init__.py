"""Messaging plumbing: envelope, transactional outbox, relay, idempotent consumer."""
