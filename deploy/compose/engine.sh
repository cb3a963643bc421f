#!/usr/bin/env bash
# A Docker engine for `make compose-test` on a machine where none runs (CI's, a sandbox):
#   deploy/compose/engine.sh start   # nothing if an engine answers; else start dockerd
#   deploy/compose/engine.sh stop    # stop the dockerd that `start` started, only that one
# dockerd is Debian's (package docker.io). Its images stay in /var/lib/docker, so the base
# images and the build cache outlive it. It is started with the MTU of the machine's own
# route out (builds reach the package mirrors through it); overlay2 first, vfs when the
# kernel or the file system refuses overlay. dockerd turns IP forwarding on and the
# FORWARD chain's policy to DROP; `stop` puts both back as they were before `start`.
set -euo pipefail
PIDFILE=${PP_DOCKERD_PIDFILE:-/run/pp-dockerd.pid}
SAVED=$PIDFILE.host
LOG=${PP_DOCKERD_LOG:-/var/log/pp-dockerd.log}

answers() { timeout 10 docker info >/dev/null 2>&1; }

start_with() {
  local mtu dev
  dev=$(ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1); exit}')
  mtu=$(cat "/sys/class/net/${dev:-none}/mtu" 2>/dev/null || echo 1500)
  echo "== starting dockerd $* (mtu $mtu; log $LOG)" >&2
  if [ ! -f "$SAVED" ]; then
    echo "$(cat /proc/sys/net/ipv4/ip_forward) $(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3; exit}')" >"$SAVED"
  fi
  setsid dockerd --mtu "$mtu" "$@" >>"$LOG" 2>&1 < /dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    answers && return 0
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 1
  done
  kill_ours
  return 1
}

kill_ours() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

stop_ours() {
  kill_ours
  if [ -f "$SAVED" ]; then
    local forward policy
    read -r forward policy <"$SAVED" || true
    [ -n "${policy:-}" ] && iptables -P FORWARD "$policy" 2>/dev/null || true
    [ -n "${forward:-}" ] && echo "$forward" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    rm -f "$SAVED"
  fi
}

case ${1:-start} in
  start)
    if answers; then exit 0; fi
    command -v dockerd >/dev/null || { echo "no Docker engine answers and dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
    start_with || start_with --storage-driver=vfs || {
      echo "dockerd did not start; the end of $LOG:" >&2; tail -n 30 "$LOG" >&2
      stop_ours; exit 1; }
    ;;
  stop) stop_ours ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
