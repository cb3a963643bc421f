"""Configuration from the environment only (names fixed by API.md where they appear there)."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from shared.proxies import TrustedProxies

SERVICES = ("identity", "ingest", "linking", "reports", "notifications", "dsar")

DEFAULT_EXCHANGE = "pp.events"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable system."""


def _int(env: Mapping[str, str], name: str, default: int, least: int | None = None,
         most: int | None = None) -> int:
    """The integer setting `name`; at least `least` when given (a lifetime of 0 would
    hand out tokens of sign-ins that have already ended), at most `most`."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if least is not None and value < least:
        raise ConfigError(f"{name} must be at least {least}, got {value}")
    if most is not None and value > most:
        raise ConfigError(f"{name} must be at most {most}, got {value}")
    return value


def _proxies(env: Mapping[str, str]) -> TrustedProxies:
    try:
        return TrustedProxies.parse(env.get("PP_TRUSTED_PROXIES"))
    except ValueError as exc:
        raise ConfigError(f"PP_TRUSTED_PROXIES: {exc}") from exc


BROKER_SCHEMES = ("amqp://", "amqps://")


def broker_url(value: str | Sequence[str]) -> str:
    """One broker URL, or every node of a cluster: a list, or URLs separated by `;` (and
    any whitespace around them). Returns the `;`-joined form kombu fails over on, nodes in
    the order given (docs/operations.md, "Giving services a RabbitMQ cluster")."""
    parts = value.split(";") if isinstance(value, str) else list(value)
    urls = [part.strip() for part in parts if part.strip()]
    if not urls:
        raise ConfigError("PP_BROKER_URL is empty")
    if urls[0].startswith("memory://") and len(urls) == 1:
        return urls[0]
    for url in urls:
        if not url.startswith(BROKER_SCHEMES):
            raise ConfigError("PP_BROKER_URL: each node must be an amqp:// or amqps:// URL "
                              f"(memory:// only alone), got one starting {url[:8]!r}")
    return ";".join(urls)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    gateway_port: int = 8080
    broker_url: str = "memory://"
    database_urls: Mapping[str, str] = field(default_factory=dict)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_tls: str = "none"  # none | starttls | ssl
    smtp_user: str | None = None
    smtp_password: str | None = None
    # A notifications worker's SMTP connections, a sender loop each (issue 27): one sends
    # while another waits for the relay's answer or the database.
    smtp_connections: int = 2
    mail_from: str = "Pupil Progress <no-reply@pupil-progress.invalid>"
    public_url: str = "http://127.0.0.1:8080"  # links in emails
    # Passkeys (WebAuthn, services/identity/passkeys.py): the relying party's id (a domain:
    # browsers refuse an IP address) and the origins the web app is served from. Unset: the
    # public URL's, with localhost for 127.0.0.1 (open http://localhost:<port>/ to use them).
    passkey_rp_id: str = "localhost"
    passkey_origins: tuple[str, ...] = ("http://localhost:8080",)
    bootstrap_operator_email: str | None = None
    bootstrap_operator_password: str | None = None
    # Messaging knobs: not part of the public contract, sane defaults.
    exchange: str = DEFAULT_EXCHANGE
    queue_prefix: str = ""
    prefetch: int = 32
    max_attempts: int = 5
    # How long a consumer remembers the events it applied (docs/decisions.md "Inbox
    # retention"); an older event is refused, since whether it was applied cannot be told.
    inbox_retention_days: int = 30
    outbox_retention_seconds: int = 3600
    relay_batch_size: int = 500
    # Publisher confirms outstanding at once (1: wait for each confirm, the naive relay).
    publish_window: int = 256
    # Events applied in one consumer transaction (1: a transaction per event). A school's
    # roster goes in a few of them: each roster handler's statements are per batch, not per
    # event (issue 27: 1,000 took a quarter to a third less time and CPU than 200).
    consumer_batch: int = 1000
    # ... and at most about this many bytes of messages (a ResultsRecorded carries up to
    # 500 results: events alone would not bound a batch's memory).
    consumer_batch_bytes: int = 1 << 20
    # Outbox rows of one routing key sent as one message (1: a message per event).
    relay_pack: int = 100
    # Token keys: embedded mode generates them into data_dir; production names files.
    jwt_private_key_file: str | None = None
    # Identity's secret, kept outside its database (services/identity/secret.py): keys the
    # hashes of client addresses and seals the signing keys. Unset: made in data_dir.
    identity_secret_file: str | None = None
    # Every other service's secret sealing its receipt signing keys in its database
    # (shared/receipts/keys.py). Unset: data_dir/keys/receipt-secret-<service>.
    receipt_secret_file: str | None = None
    jwt_public_key_file: str | None = None
    jwks_url: str | None = None
    access_token_seconds: int = 900
    # A retired signing key stays published this long, so tokens it signed still verify.
    key_overlap_seconds: int = 1800
    refresh_token_days: int = 30
    # A sign-in (a refresh-token family) ends this long after it began, however often
    # it is refreshed: then the person signs in again.
    sign_in_max_days: int = 90
    invitation_days: int = 7
    removed_student_retention_days: int = 365
    # The erasure ledger's database (shared/erasure_ledger.py; dsar writes it): apart from
    # the services' databases, so a restore of those never rolls it back. Unset: none.
    erasure_ledger_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "json"  # json (one object per line, for collectors) or text
    metrics_port: int = 0  # a process's own /metrics port (0: none)
    # Proxies allowed to name the client in X-Forwarded-For (none: the socket peer is it).
    trusted_proxies: TrustedProxies = TrustedProxies()
    # Interactive requests before bulk work (issue 27, docs/decisions.md): a worker
    # process lowers its CPU priority by this (os.nice) as it starts; web processes keep 0.
    worker_nice: int = 10
    # Ingest takes at most this many events a second of one school's pushes (judged over
    # 10 seconds); beyond it 429 with Retry-After. 0: unbounded.
    ingest_school_events_per_second: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("PP_DATA_DIR") or "./var")
        gateway_port = _int(env, "PP_GATEWAY_PORT", 8080)
        public_url = (env.get("PP_PUBLIC_URL")
                      or f"http://127.0.0.1:{gateway_port}").rstrip("/")
        return cls(
            data_dir=data_dir,
            gateway_port=gateway_port,
            database_urls=_database_urls(env, data_dir),
            # Unset: the embedded gateway's own address, so mail links work from make run
            # on any port.
            public_url=public_url,
            **_passkey_settings(env, public_url),
            bootstrap_operator_email=env.get("PP_BOOTSTRAP_OPERATOR_EMAIL") or None,
            bootstrap_operator_password=env.get("PP_BOOTSTRAP_OPERATOR_PASSWORD") or None,
            invitation_days=_int(env, "PP_INVITATION_DAYS", 7),
            removed_student_retention_days=_int(env, "PP_REMOVED_STUDENT_RETENTION_DAYS",
                                                365),
            **_messaging_settings(env), **_mail_settings(env), **_token_settings(env),
            **_operations_settings(env),
        )

    def __post_init__(self) -> None:
        if not isinstance(self.broker_url, str):  # a cluster's nodes given as a list
            object.__setattr__(self, "broker_url", broker_url(self.broker_url))

    @property
    def broker_urls(self) -> list[str]:
        """Every broker node services may use, in failover order."""
        return self.broker_url.split(";")

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def require_real_broker(self) -> None:
        """Separate web and worker processes cannot share an in-memory broker."""
        if self.broker_url.startswith("memory://"):
            raise ConfigError(
                "PP_BROKER_URL must name a real broker (amqp://...) when services run as "
                "separate processes; use `make run` for the all-in-one embedded mode")

def _database_urls(env: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    """PP_<SERVICE>_DATABASE_URL, else a SQLite file per service in the data folder."""
    return {service: env.get(f"PP_{service.upper()}_DATABASE_URL")
            or f"sqlite:///{(data_dir / f'{service}.db').resolve()}" for service in SERVICES}


def _operations_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return dict(
        erasure_ledger_url=env.get("PP_ERASURE_LEDGER_URL") or None,
        log_level=env.get("PP_LOG_LEVEL") or "INFO",
        log_format=env.get("PP_LOG_FORMAT") or "json",
        metrics_port=int(env.get("PP_METRICS_PORT") or 0),
        trusted_proxies=_proxies(env),
        worker_nice=_int(env, "PP_WORKER_NICE", 10),
        ingest_school_events_per_second=_int(env, "PP_INGEST_SCHOOL_EVENTS_PER_SECOND", 1000))


def _messaging_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return dict(
        broker_url=broker_url(env.get("PP_BROKER_URL") or "memory://"),
        exchange=env.get("PP_EXCHANGE") or DEFAULT_EXCHANGE,
        queue_prefix=env.get("PP_QUEUE_PREFIX") or "",
        prefetch=_int(env, "PP_PREFETCH", 32),
        max_attempts=_int(env, "PP_MAX_ATTEMPTS", 5),
        inbox_retention_days=_int(env, "PP_INBOX_RETENTION_DAYS", 30),
        outbox_retention_seconds=_int(env, "PP_OUTBOX_RETENTION_SECONDS", 3600),
        relay_batch_size=_int(env, "PP_RELAY_BATCH_SIZE", 500),
        publish_window=_int(env, "PP_PUBLISH_WINDOW", 256),
        consumer_batch=_int(env, "PP_CONSUMER_BATCH", 1000),
        consumer_batch_bytes=_int(env, "PP_CONSUMER_BATCH_BYTES", 1 << 20),
        relay_pack=_int(env, "PP_RELAY_PACK", 100))


# Each sender holds a database connection through its batch, from the worker's pool
# (shared/db.py: 5 and 10 more), which its consumers and relay use too.
MAX_SMTP_CONNECTIONS = 8


def _mail_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return dict(
        smtp_host=env.get("PP_SMTP_HOST") or None,
        smtp_port=_int(env, "PP_SMTP_PORT", 25),
        smtp_tls=env.get("PP_SMTP_TLS") or "none",
        smtp_user=env.get("PP_SMTP_USER") or None,
        smtp_password=env.get("PP_SMTP_PASSWORD") or None,
        smtp_connections=_int(env, "PP_SMTP_CONNECTIONS", 2, least=1,
                              most=MAX_SMTP_CONNECTIONS),
        mail_from=env.get("PP_MAIL_FROM") or "Pupil Progress <no-reply@pupil-progress.invalid>")


def _passkey_settings(env: Mapping[str, str], public_url: str) -> dict[str, Any]:
    """PP_PASSKEY_RP_ID and PP_PASSKEY_ORIGINS (comma-separated), else the public URL's
    host and origin; an IP address (make run's 127.0.0.1) becomes localhost, the one
    name a browser lets a plain-http page use for passkeys."""
    parts = urlsplit(public_url)
    host = parts.hostname or "localhost"
    try:
        ipaddress.ip_address(host)
        host = "localhost"
    except ValueError:
        pass
    port = f":{parts.port}" if parts.port else ""
    origins = [o.strip().rstrip("/") for o in (env.get("PP_PASSKEY_ORIGINS") or "").split(",")
               if o.strip()]
    return dict(passkey_rp_id=env.get("PP_PASSKEY_RP_ID") or host,
                passkey_origins=tuple(origins or [f"{parts.scheme}://{host}{port}"]))


def _token_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return dict(
        jwt_private_key_file=env.get("PP_JWT_PRIVATE_KEY_FILE") or None,
        identity_secret_file=env.get("PP_IDENTITY_SECRET_FILE") or None,
        receipt_secret_file=env.get("PP_RECEIPT_SECRET_FILE") or None,
        jwt_public_key_file=env.get("PP_JWT_PUBLIC_KEY_FILE") or None,
        jwks_url=env.get("PP_JWKS_URL") or None,
        access_token_seconds=_int(env, "PP_ACCESS_TOKEN_SECONDS", 900, least=1),
        key_overlap_seconds=_int(env, "PP_JWT_KEY_OVERLAP_SECONDS", 1800),
        refresh_token_days=_int(env, "PP_REFRESH_TOKEN_DAYS", 30, least=1),
        sign_in_max_days=_int(env, "PP_SIGN_IN_MAX_DAYS", 90, least=1))


# The data map: every service that declares personal data answers every rights event.
# A test checks this against the services' declarations.
RIGHTS_PARTICIPANTS = ("identity", "ingest", "linking", "reports", "notifications")
