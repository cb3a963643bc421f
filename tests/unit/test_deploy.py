"""What can be checked of the production topology without a Docker engine: the compose file,
the image's commands, the nginx gateway configuration and its agreement with the route table."""
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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
