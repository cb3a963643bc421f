"""What can be checked of the production topology without a Docker engine: the compose file,
the image's commands, the nginx gateway configuration and its agreement with the route table."""
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from shared import nginx
from shared.config import SERVICES
from shared.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
ON_DISK = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))


def test_the_service_list_is_the_services_on_disk():
    assert sorted(SERVICES) == ON_DISK


@pytest.mark.parametrize("service", ON_DISK)
def test_every_service_has_a_web_and_a_worker_in_compose_and_a_route(service):
    web, worker = COMPOSE.get(f"{service}-web"), COMPOSE.get(f"{service}-worker")
    assert web and worker, f"{service} lacks a web or worker entry in docker-compose.yml"
    assert web["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py",
                              f"services.{service}.wsgi:app"]
    assert worker["command"] == ["python", "-m", f"services.{service}.worker"]
    for entry in (web, worker):
        assert entry["image"] == "pupil-progress:latest" and entry["healthcheck"]["test"]
        assert entry["environment"][f"PP_{service.upper()}_DATABASE_URL"].endswith(
            f"/{service}")
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    assert worker["depends_on"] == {f"{service}-web": {"condition": "service_healthy"}}
    assert web["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert web["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert COMPOSE["gateway"]["depends_on"][f"{service}-web"]["condition"] == "service_healthy"
    assert any(owner == service for _prefix, owner in ROUTES), f"{service} has no route"
    init = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    assert f"CREATE DATABASE {service} OWNER {service};" in init


def test_every_command_in_the_image_and_compose_exists():
    modules = {f"services.{s}.{m}" for s in SERVICES for m in ("wsgi", "worker")}
    modules |= {"shared.gateway"}
    for module in sorted(modules):
        assert importlib.util.find_spec(module), module
    from shared.gateway import create_readiness_app  # the readiness command's factory
    assert callable(create_readiness_app)
    assert (ROOT / "deploy" / "gunicorn.conf.py").exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for path in ("shared", "services", "deploy/gunicorn.conf.py"):
        assert f"COPY {path} " in dockerfile
    for volume in COMPOSE["gateway"]["volumes"] + COMPOSE["postgres"]["volumes"]:
        if volume.startswith("./"):
            assert (ROOT / volume.split(":")[0]).exists(), volume


def test_the_nginx_configuration_is_generated_from_the_route_table():
    assert (ROOT / "deploy" / "nginx" / "pupil-progress.conf").read_text() == nginx.render(), \
        "run `python -m shared.nginx --write`"
    conf = nginx.render()
    for prefix, service in ROUTES:
        assert f"location {prefix}/ {{" in conf and f"proxy_pass http://{service};" in conf
    assert "proxy_set_header X-Request-ID $pp_request_id;" in conf
    assert "client_max_body_size 1m;" in conf and "limit_req zone=pp_clients" in conf
    compose_upstreams = (ROOT / "deploy" / "nginx" / "upstreams.compose.conf").read_text()
    for name in (*SERVICES, "readiness"):
        assert f"upstream {name} {{" in compose_upstreams


def test_the_gateway_names_the_client_and_logs_no_query():
    conf = nginx.render()
    # The client's own X-Forwarded-For is replaced, never appended to: the services trust
    # this hop's word alone.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "$proxy_add_x_forwarded_for" not in conf and "$http_x_forwarded_for" not in conf
    # Listening on every address: a client at 127.0.0.2 reaches it as itself.
    assert re.search(r"^\s*listen 8080;", conf, re.M)
    log_format = conf[conf.index("log_format"):conf.index("server {")]
    assert '"path":"$uri"' in log_format
    for leak in ("$request_uri", "$args", "$query_string", "$request\"", "$arg_",
                 "$remote_addr", "$http_x_forwarded_for"):
        assert leak not in log_format, leak
    # Kubernetes: the Ingress controller in front names the client, walked from the right.
    k8s = (ROOT / "deploy" / "nginx" / "upstreams.k8s.conf").read_text()
    assert "real_ip_header X-Forwarded-For;" in k8s and "real_ip_recursive on;" in k8s
    assert "set_real_ip_from " in k8s
    assert "set_real_ip_from" not in (ROOT / "deploy" / "nginx" /
                                      "upstreams.compose.conf").read_text()


def test_compose_services_trust_only_the_gateway_to_name_the_client():
    import ipaddress
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gateway = COMPOSE["gateway"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(gateway) in ipaddress.ip_network(subnet)
    for service in SERVICES:
        for part in ("web", "worker"):
            env = COMPOSE[f"{service}-{part}"]["environment"]
            assert env["PP_TRUSTED_PROXIES"] == gateway


def test_nginx_accepts_the_configuration(tmp_path):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        if os.environ.get("PP_REQUIRE_INTEGRATION") == "1":
            pytest.fail("nginx is required (Debian package nginx)")
        pytest.skip("nginx is not installed")
    # With an edge in front (Kubernetes' upstreams): the realip directives are valid too.
    (tmp_path / "upstreams.conf").write_text(nginx.upstreams(lambda name: "127.0.0.1:9",
                                                             edge_proxies=("10.0.0.0/8",)))
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    include {tmp_path}/upstreams.conf;
    include {ROOT}/deploy/nginx/pupil-progress.conf;
}}
""")
    result = subprocess.run([binary, "-t", "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_base_image_compose_and_the_dockerfile_name_has_a_local_stand_in():
    """`make compose-test` builds, where no registry answers, a stand-in for each image the
    compose file and the Dockerfile name (deploy/compose/base-images.sh): a new or bumped
    image name needs its recipe there too."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    named = {entry["image"] for entry in compose.values()} - {"pupil-progress:latest"}
    named |= set(re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M))
    script = (ROOT / "deploy" / "compose" / "base-images.sh").read_text()
    recipes = dict(re.findall(r'^\s+"(\S+) (\w+)"$', script, re.M))
    assert named == set(recipes), "deploy/compose/base-images.sh IMAGES"
    for recipe in recipes.values():
        dockerfile = ROOT / "deploy" / "compose" / "standins" / recipe / "Dockerfile"
        assert dockerfile.read_text().count("FROM debian:bookworm-slim") == 1, recipe


# --- the erasure ledger: wherever the system runs, every service that writes it has it ------
LEDGER_ENV = "PP_ERASURE_LEDGER_URL"


def _ledger_writers() -> set[str]:
    """The services whose code opens the ledger (their bootstrap builds one from the
    setting): found in the code, so a new writer cannot be left out of RECORDERS."""
    return {path.relative_to(ROOT / "services").parts[0]
            for path in (ROOT / "services").rglob("*.py")
            if "erasure_ledger_url" in path.read_text()}


def test_the_services_writing_the_ledger_are_the_recorders_deployments_name():
    from shared.erasure_ledger import RECORDERS
    assert _ledger_writers() == set(RECORDERS) == {"dsar", "identity"}


@pytest.mark.parametrize("service", sorted(_ledger_writers()))
def test_compose_gives_every_ledger_writer_the_ledger_in_its_own_database(service):
    """Unset, nothing is written and a restore would bring erased people and offboarded
    schools back: each web and worker of a writer names the ledger, in a database of its
    own (no service's, so restoring the services' databases never rolls it back), which
    the compose's PostgreSQL creates."""
    init = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    for part in ("web", "worker"):
        url = sa.make_url(COMPOSE[f"{service}-{part}"]["environment"][LEDGER_ENV])
        assert url.drivername == "postgresql+psycopg" and url.host == "postgres"
        assert url.database not in SERVICES
        assert url.database not in {sa.make_url(v).database for k, v in COMPOSE[
            f"{service}-{part}"]["environment"].items() if k.endswith("_DATABASE_URL")}
        assert f"CREATE USER {url.username} PASSWORD '{url.password}';" in init
        assert f"CREATE DATABASE {url.database} OWNER {url.username};" in init


@pytest.mark.parametrize("service", sorted(_ledger_writers()))
def test_kubernetes_gives_every_ledger_writer_the_ledgers_own_cluster(service):
    """Each writer's Deployments compose the URL from the ledger cluster's app secret,
    reach its pods (and its pods let them in), and the cluster is its own, backed up."""
    docs = [d for path in sorted((ROOT / "deploy" / "k8s" / "base").rglob("*.yaml"))
            for d in yaml.safe_load_all(path.read_text()) if d]
    clusters = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Cluster"}
    ledger = clusters["pp-erasure-ledger-db"]
    assert ledger["spec"]["bootstrap"]["initdb"]["database"] == "erasure_ledger"
    assert {f"pp-{s}-db" for s in SERVICES} | {"pp-erasure-ledger-db"} == set(clusters)
    backups = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "overlays" / "example" /
                                  "scheduled-backups.yaml").read_text())
    assert "pp-erasure-ledger-db" in {b["spec"]["cluster"]["name"] for b in backups if b}
    for part in ("web", "worker"):
        deployment = next(d for d in docs if d["kind"] == "Deployment"
                          and d["metadata"]["name"] == f"{service}-{part}")
        env = {e["name"]: e for e in
               deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env[LEDGER_ENV]["value"] == ("postgresql+psycopg://$(LEDGER_USER):"
                                            "$(LEDGER_PASSWORD)@pp-erasure-ledger-db-rw"
                                            ":5432/erasure_ledger")
        for name in ("LEDGER_USER", "LEDGER_PASSWORD"):  # defined before they are used
            assert list(env).index(name) < list(env).index(LEDGER_ENV)
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "pp-erasure-ledger-db-app"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        out = [rule for p in policies if "Egress" in p["spec"]["policyTypes"]
               and _selects(p["spec"]["podSelector"], labels)
               for rule in p["spec"].get("egress", [])]
        assert any({"cnpg.io/cluster": "pp-erasure-ledger-db"} == peer.get(
            "podSelector", {}).get("matchLabels") for rule in out for peer in rule.get("to", [])
            if 5432 in [p["port"] for p in rule.get("ports", [])])
        into = next(p for p in policies if p["metadata"]["name"] == "pp-erasure-ledger-db")
        assert any(_selects(peer["podSelector"], labels)
                   for rule in into["spec"]["ingress"] for peer in rule.get("from", [])
                   if "podSelector" in peer and 5432 in [p["port"] for p in rule["ports"]])


def test_no_service_that_does_not_write_the_ledger_reaches_its_cluster_in_kubernetes():
    policy = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "base" / "erasure-ledger.yaml")
                                .read_text())
    into = next(d for d in policy if d and d["kind"] == "NetworkPolicy")
    for service in set(SERVICES) - _ledger_writers():
        for part in ("web", "worker"):
            labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/component": part,
                      "app.kubernetes.io/part-of": "pupil-progress"}
            assert not any(_selects(peer["podSelector"], labels)
                           for rule in into["spec"]["ingress"]
                           for peer in rule.get("from", []) if "podSelector" in peer)


def test_the_local_stack_gives_every_process_the_ledger():
    spec = importlib.util.spec_from_file_location("pp_stack", ROOT / "deploy" / "stack.py")
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    for service in _ledger_writers():
        url = sa.make_url(stack.service_env(service)[LEDGER_ENV])
        assert url.database.endswith("erasure_ledger")
        assert url.database not in {sa.make_url(stack.database_url(s)).database
                                    for s in SERVICES}


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"]
               for e in selector.get("matchExpressions", []) if e["operator"] == "In")


def _stack_module():
    spec = importlib.util.spec_from_file_location("pp_stack", ROOT / "deploy" / "stack.py")
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    return stack


def test_the_local_stack_refuses_to_start_on_a_port_another_holds(monkeypatch):
    """Two bench runs on the stack collided: the second's nginx could not bind 8080, and
    its readiness checks and requests were answered by the first's stack. `up` now fails
    at once, naming the port, before it creates or starts anything."""
    import socket

    stack = _stack_module()
    with socket.socket() as held, socket.socket() as spare:
        held.bind(("127.0.0.1", 0))
        held.listen()
        spare.bind(("127.0.0.1", 0))  # bound, not listening: closed before the check
        port, free = held.getsockname()[1], spare.getsockname()[1]
        spare.close()
        assert stack.taken({"the gateway (nginx)": port, "a web process": free}) == [
            f"{port} (the gateway (nginx))"]
        monkeypatch.setattr(stack, "stack_ports", lambda: {"the gateway (nginx)": port})

        def started(*_args):
            raise AssertionError("started with its port taken")
        monkeypatch.setattr(stack, "create_databases", started)
        monkeypatch.setattr(stack, "_start", started)
        with pytest.raises(SystemExit, match=f"already in use: {port} \\(the gateway"):
            stack.up()


def test_the_stacks_ports_are_the_gateway_the_web_processes_and_their_metrics():
    stack = _stack_module()
    ports = stack.stack_ports()
    assert ports["the gateway (nginx)"] == 8080
    assert {stack.web_port(s) for s in SERVICES} < set(ports.values())
    assert len(set(ports.values())) == len(ports)  # no two share one
