"""gunicorn settings for every service's web process (the image, compose, k8s, local stack).

    gunicorn -c deploy/gunicorn.conf.py services.<service>.wsgi:app

With PP_METRICS_PORT set, the process's metrics are served on that port of their own, never
on the app's port: each gunicorn worker counts into files of prometheus_client's
multiprocess mode, and the master serves their sum at /metrics.
"""
import os
import shutil
import tempfile

bind = os.environ.get("PP_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("PP_WEB_WORKERS", "2"))
worker_class = "sync"
# A OneRoster upload of a large school is applied within its request.
timeout = int(os.environ.get("PP_WEB_TIMEOUT", "120"))
graceful_timeout = 30  # SIGTERM: finish the requests in hand, then exit
keepalive = 5  # behind nginx's keepalive upstream connections
accesslog = None  # the gateway logs requests (JSON, with the request id)
errorlog = "-"
loglevel = os.environ.get("PP_LOG_LEVEL", "info").lower()
# Each worker builds the app (and runs migrations under an advisory lock) itself, so a
# worker that dies is replaced cleanly.
preload_app = False
# No runtime control socket (gunicorn 27's `gunicornc`): nothing here uses it, and its
# default place, the user's home, does not exist for the image's user.
control_socket_disable = True

metrics_port = int(os.environ.get("PP_METRICS_PORT") or 0)
if metrics_port:
    # Set before any worker imports prometheus_client (workers are forked after this file
    # is read); a fresh folder per master, so nothing of an earlier run is summed.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pp-metrics-")


def when_ready(server):
    if metrics_port:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_http_server(metrics_port, registry=registry)
        server.log.info("metrics on port %d", metrics_port)


def post_worker_init(worker):
    # The app is built (services' wsgi modules): its objects are never scanned again.
    from shared import heap
    heap.settle()


def child_exit(server, worker):
    if metrics_port:  # its counts stay in the sum; only its live gauges go
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if metrics_port:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
