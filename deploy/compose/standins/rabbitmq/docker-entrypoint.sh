#!/usr/bin/env bash
# The official image's configuration, in short: listeners on every address, the default
# user from the environment, logs to the console; the server runs as rabbitmq.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
  {
    echo "loopback_users.guest = false"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    echo "log.console = true"
    echo "log.file = false"
    if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER"; fi
    if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS"; fi
    if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"; fi
  } > /etc/rabbitmq/rabbitmq.conf
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  exec gosu rabbitmq "$0" "$@"
fi

exec "$@"
