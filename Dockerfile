# One image for every service: the web process (gunicorn) or the worker, by its command.
#   docker build -t pupil-progress .
#   web:    gunicorn -c deploy/gunicorn.conf.py services.<service>.wsgi:app
#   worker: python -m services.<service>.worker
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PP_DATA_DIR=/var/lib/pupil-progress PP_LOG_FORMAT=json
WORKDIR /app

# Dependencies first (a layer that changes only with pyproject.toml).
COPY pyproject.toml ./
RUN mkdir -p shared services && touch shared/__init__.py services/__init__.py \
    && pip install . && pip uninstall -y pupil-progress
COPY shared ./shared
COPY services ./services
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py
# The web app's files: the Kubernetes gateway copies them from this image into nginx's root.
COPY web ./web
# Readable by the app's user whatever the clone's umask (a umask-077 clone's files are 0600:
# COPY keeps their modes, and the processes below do not run as root).
RUN chmod -R a+rX /app && pip install --no-deps . \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin pp \
    && mkdir -p /var/lib/pupil-progress && chown pp /var/lib/pupil-progress

USER 10001
EXPOSE 8000 9100
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "services.identity.wsgi:app"]
