"""The local stack without Docker: every service as its own gunicorn web process and worker
process on this machine's RabbitMQ and PostgreSQL (a database per service), behind nginx
(Debian's package) on port 8080 with the same configuration as compose and Kubernetes.

    python deploy/stack.py up        # (make stack) start everything, wait until ready
                                     # (refused at once while a port of it is taken)
    python deploy/stack.py down      # (make stack-down) stop everything it started
    python deploy/stack.py status
    python deploy/stack.py add-worker reports   # one more worker process of a service

Environment: PP_STACK_DIR (pids, logs, mail; ./var/stack), PP_STACK_ADMIN_DATABASE_URL
(a PostgreSQL URL allowed to create databases; postgresql://postgres@127.0.0.1:5432/postgres),
PP_STACK_DB_PREFIX (database names; pp_), PP_STACK_BASE_PORT (web ports base+1…; 8100),
PP_BROKER_URL, and anything PP_* the services read (PP_EXCHANGE, PP_QUEUE_PREFIX, …).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.config import SERVICES  # noqa: E402
from shared.nginx import upstreams  # noqa: E402

GATEWAY_PORT = 8080  # fixed in deploy/nginx/pupil-progress.conf
STACK_DIR = Path(os.environ.get("PP_STACK_DIR", ROOT / "var" / "stack")).resolve()
ADMIN_URL = os.environ.get("PP_STACK_ADMIN_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
DB_PREFIX = os.environ.get("PP_STACK_DB_PREFIX", "pp_")
BASE_PORT = int(os.environ.get("PP_STACK_BASE_PORT", "8100"))
BROKER_URL = os.environ.get("PP_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def web_port(service: str) -> int:
    return BASE_PORT + 1 + SERVICES.index(service)


READINESS_PORT = BASE_PORT + 1 + len(SERVICES)
LEDGER = "erasure_ledger"  # identity's and dsar's ledger, apart from the services' databases


def database_url(service: str, driver: str = "postgresql+psycopg") -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base.replace('postgresql', driver, 1)}/{DB_PREFIX}{service}"


def create_databases() -> None:
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for service in (*SERVICES, LEDGER):
            if f"{DB_PREFIX}{service}" not in existing:
                conn.execute(f'CREATE DATABASE "{DB_PREFIX}{service}"')


def service_env(service: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PP_STACK_")}
    env.update({
        "PP_BROKER_URL": BROKER_URL,
        "PP_DATA_DIR": str(STACK_DIR / "data"),  # mail (.eml) and identity's first key
        "PP_JWKS_URL": f"http://127.0.0.1:{web_port('identity')}/.well-known/jwks.json",
        "PP_PUBLIC_URL": env.get("PP_PUBLIC_URL", f"http://127.0.0.1:{GATEWAY_PORT}"),
        "PP_WEB_WORKERS": env.get("PP_WEB_WORKERS", "1"),
        # nginx reaches the web processes from 127.0.0.1: it alone names the client.
        "PP_TRUSTED_PROXIES": env.get("PP_TRUSTED_PROXIES", "127.0.0.1"),
        "PYTHONPATH": str(ROOT),
        **{f"PP_{s.upper()}_DATABASE_URL": database_url(s) for s in SERVICES},
        "PP_ERASURE_LEDGER_URL": database_url(LEDGER),
        **{f"PP_{s.upper()}_URL": f"http://127.0.0.1:{web_port(s)}" for s in SERVICES},
    })
    if service == "identity":
        env.pop("PP_JWKS_URL")  # identity signs: it reads its own key ring
    return env


def _start(name: str, argv: list[str], env: dict[str, str]) -> int:
    (STACK_DIR / "logs").mkdir(parents=True, exist_ok=True)
    (STACK_DIR / "pids").mkdir(parents=True, exist_ok=True)
    log = open(STACK_DIR / "logs" / f"{name}.log", "ab")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # its own group: stopped as one
    (STACK_DIR / "pids" / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def metrics_port(service: str, index: int) -> int:
    """A process's own /metrics port: index 0 the web process, 1… its workers."""
    return BASE_PORT + 20 + 10 * SERVICES.index(service) + index


def start_web(service: str) -> None:
    env = {**service_env(service), "PP_BIND": f"127.0.0.1:{web_port(service)}",
           "PP_METRICS_PORT": str(metrics_port(service, 0))}
    _start(f"{service}-web", [sys.executable, "-m", "gunicorn", "-c",
                              str(ROOT / "deploy" / "gunicorn.conf.py"),
                              f"services.{service}.wsgi:app"], env)
    (STACK_DIR / "pids" / f"{service}-web.metrics").write_text(env["PP_METRICS_PORT"])


def start_worker(service: str, index: int = 1) -> str:
    name = f"{service}-worker" + (f"-{index}" if index > 1 else "")
    port = metrics_port(service, index)
    _start(name, [sys.executable, "-m", f"services.{service}.worker"],
           {**service_env(service), "PP_METRICS_PORT": str(port)})
    (STACK_DIR / "pids" / f"{name}.metrics").write_text(str(port))
    return name


def start_readiness() -> None:
    env = {**service_env(), "PP_BIND": f"127.0.0.1:{READINESS_PORT}", "PP_WEB_WORKERS": "1"}
    _start("readiness", [sys.executable, "-m", "gunicorn", "-c",
                         str(ROOT / "deploy" / "gunicorn.conf.py"),
                         "shared.gateway:create_readiness_app()"], env)


def nginx_conf() -> Path:
    """The stack's nginx.conf: the shared gateway file, with local upstreams."""
    conf_dir = STACK_DIR / "nginx"
    for sub in ("temp", "logs"):
        (conf_dir / sub).mkdir(parents=True, exist_ok=True)
    (conf_dir / "upstreams.local.conf").write_text(upstreams(
        lambda name: f"127.0.0.1:{READINESS_PORT if name == 'readiness' else web_port(name)}",
        web_root=str(ROOT / "web")))
    temp = conf_dir / "temp"
    # As root (CI), nginx's workers would run as nobody, who cannot reach a private stack
    # folder: run them as the user who started the stack instead.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (conf_dir / "nginx.conf").write_text(f"""\
{user}worker_processes 2;
pid {conf_dir / 'nginx.pid'};
error_log {conf_dir / 'logs' / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {conf_dir / 'upstreams.local.conf'};
    include {ROOT / 'deploy' / 'nginx' / 'pupil-progress.conf'};
}}
""")
    return conf_dir / "nginx.conf"


def start_nginx() -> None:
    conf = str(nginx_conf())
    nginx = os.environ.get("PP_NGINX", "/usr/sbin/nginx")
    subprocess.run([nginx, "-t", "-q", "-c", conf], check=True)
    # In the foreground, like the other processes: its access log goes to logs/gateway.log.
    _start("gateway", [nginx, "-c", conf, "-g", "daemon off;"], dict(os.environ))


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return answer.status
    except OSError as exc:
        return getattr(exc, "code", 0) or 0


def _wait(what: str, check, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}; logs in {STACK_DIR / 'logs'}")


def stack_ports() -> dict[str, int]:
    """Every port the stack listens on: the gateway, each web process and its /metrics,
    the first worker's /metrics, the readiness app."""
    ports = {"the gateway (nginx)": GATEWAY_PORT, "the readiness app": READINESS_PORT}
    for service in SERVICES:
        ports[f"{service}'s web process"] = web_port(service)
        ports[f"{service}'s web /metrics"] = metrics_port(service, 0)
        ports[f"{service}'s worker /metrics"] = metrics_port(service, 1)
    return ports


def taken(ports: dict[str, int]) -> list[str]:
    """Those of `ports` something listens on already (on any address, as nginx's `listen
    8080` binds): another stack, or a bench's."""
    found = []
    for what, port in ports.items():
        with socket.socket() as probe:
            # A closed connection's TIME_WAIT is no listener: only a listener refuses this.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("", port))
            except OSError:
                found.append(f"{port} ({what})")
    return found


def up() -> None:
    # A stack already up (another run's) would answer this one's readiness checks and
    # requests: its processes here would fail to bind, unseen. Refuse before starting any.
    busy = taken(stack_ports())
    if busy:
        raise SystemExit(f"stack up: already in use: {', '.join(busy)}. Another stack or "
                         "bench is running (pgrep -af 'bench|stack.py'): not starting.")
    create_databases()
    # identity first: it makes the signing key the others fetch from its JWKS.
    start_web("identity")
    _wait("identity", lambda: _get(f"http://127.0.0.1:{web_port('identity')}/readyz") == 200)
    for service in SERVICES:
        if service != "identity":
            start_web(service)
    for service in SERVICES:
        start_worker(service)
    start_readiness()
    start_nginx()
    _wait("every service ready through the gateway",
          lambda: _get(f"http://127.0.0.1:{GATEWAY_PORT}/readyz") == 200)
    print(f"stack up: gateway http://127.0.0.1:{GATEWAY_PORT}, logs {STACK_DIR / 'logs'}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_processes(names, sig: int = signal.SIGTERM, timeout: float = 30) -> dict[str, int]:
    """Stop process groups together: signal each, then wait for them to go, until one
    deadline (then SIGKILL); returns their pids. One after the other, each graceful stop's
    ~2 s would add up to half a minute for the whole stack."""
    pids = {name: _signal(name, sig) for name in names
            if (STACK_DIR / "pids" / f"{name}.pid").exists()}
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        for pid in pids.values():
            try:  # our child when the caller started it (tests): reap it
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.1)
    for name, pid in pids.items():
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        (STACK_DIR / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return pids


def _signal(name: str, sig: int) -> int:
    pid = int((STACK_DIR / "pids" / f"{name}.pid").read_text())
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    return pid


def down() -> None:
    stop_processes(["gateway"])  # first: no new requests
    stop_processes(sorted(p.stem for p in (STACK_DIR / "pids").glob("*.pid")))
    print("stack down")


def status() -> None:
    states = {p.stem: "running" if _alive(int(p.read_text())) else "gone"
              for p in sorted((STACK_DIR / "pids").glob("*.pid"))}
    states["readyz"] = str(_get(f"http://127.0.0.1:{GATEWAY_PORT}/readyz"))
    print(json.dumps(states, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status", "add-worker"))
    parser.add_argument("service", nargs="?", choices=SERVICES)
    args = parser.parse_args()
    if args.command == "add-worker":
        index = 2
        while (STACK_DIR / "pids" / f"{args.service}-worker-{index}.pid").exists():
            index += 1
        print(start_worker(args.service, index))
    else:
        {"up": up, "down": down, "status": status}[args.command]()


if __name__ == "__main__":
    main()
