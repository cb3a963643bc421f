"""gunicorn settings for every service's web process (the image, compose, k8s, local stack).

    gunicorn -c deploy/gunicorn.conf.py services.<service>.wsgi:app
"""
import os

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
