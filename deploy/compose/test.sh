#!/usr/bin/env bash
# `make compose-test`: docker-compose.yml as a user runs it, end to end.
#   1. a Docker engine (deploy/compose/engine.sh starts Debian's dockerd when none answers)
#   2. the base images the compose file and the Dockerfile name (pulled, or local stand-ins
#      from Debian's packages when no registry answers: deploy/compose/base-images.sh)
#   3. `docker compose build`, then `up --wait` as project pp-compose-test, the gateway on
#      PP_COMPOSE_TEST_PORT (default 18080) so a running `make run` or stack is left alone
#   4. tests/compose: the journey through the compose's nginx, mail from its Mailpit
#   5. `down --volumes`, always (and the dockerd of step 1, if this run started it)
# PP_COMPOSE_KEEP=1 leaves the project up for a look (then: docker compose -p pp-compose-test down -v).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=pp-compose-test
export COMPOSE_PROJECT_NAME=$PROJECT
export PP_GATEWAY_PORT=${PP_COMPOSE_TEST_PORT:-18080}
export PP_MAILPIT_PORT=${PP_COMPOSE_TEST_MAILPIT_PORT:-18025}
export PP_RABBITMQ_UI_PORT=${PP_COMPOSE_TEST_RABBITMQ_UI_PORT:-18672}
export PP_PUBLIC_URL="http://127.0.0.1:$PP_GATEWAY_PORT"
export PP_BOOTSTRAP_OPERATOR_EMAIL=ops@compose-test.example
export PP_BOOTSTRAP_OPERATOR_PASSWORD="compose-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PY=${PY:-.venv/bin/python}

log() { printf '== compose-test: %s\n' "$*" >&2; }
started_engine=0

teardown() {
  local status=$?
  if [ "$status" != 0 ] && docker info >/dev/null 2>&1; then
    log "failed ($status): state and the end of each container's log"
    docker compose ps -a >&2 || true
    docker compose logs --no-color --tail 40 >&2 || true
  fi
  if [ "${PP_COMPOSE_KEEP:-0}" = 1 ]; then
    log "left up (PP_COMPOSE_KEEP=1): docker compose -p $PROJECT down -v"
  elif docker info >/dev/null 2>&1; then
    log "down"
    docker compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    # Earlier builds of the image, untagged by this one (the build cache stays).
    docker image prune --force --filter "label=com.docker.compose.project=$PROJECT" >/dev/null 2>&1 || true
  fi
  if [ $started_engine = 1 ] && [ "${PP_COMPOSE_KEEP:-0}" != 1 ]; then
    deploy/compose/engine.sh stop
  fi
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

if ! timeout 10 docker info >/dev/null 2>&1; then
  deploy/compose/engine.sh start
  started_engine=1
fi
docker compose version >/dev/null 2>&1 || { log "the compose plugin is missing (docker compose)"; exit 1; }

SECONDS=0
deploy/compose/base-images.sh
log "base images in ${SECONDS}s"

# A project left over by an interrupted run goes first (its volumes too).
docker compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true

SECONDS=0
docker compose build --quiet
log "build in ${SECONDS}s"

# The files compose bind-mounts are read inside the containers by users that are not root
# (nginx, postgres): a clone made with umask 077 holds them as 0600/0700, unreadable
# there. They are public (the web app, nginx's config, the databases' names), so they
# are made world-readable, as a umask-022 clone has them.
chmod -R a+rX web deploy/nginx deploy/postgres/init.sql

SECONDS=0
docker compose up --detach --wait --wait-timeout "${PP_COMPOSE_TEST_WAIT:-600}" --quiet-pull
log "up and healthy in ${SECONDS}s"

SECONDS=0
PP_COMPOSE_GATEWAY="http://127.0.0.1:$PP_GATEWAY_PORT" \
PP_COMPOSE_MAILPIT="http://127.0.0.1:$PP_MAILPIT_PORT" \
PP_COMPOSE_PROJECT=$PROJECT \
  "$PY" -m pytest tests/compose -q -p no:cacheprovider -m compose
log "journey in ${SECONDS}s"
