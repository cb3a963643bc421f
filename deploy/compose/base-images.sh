#!/usr/bin/env bash
# Local stand-ins for the official images docker-compose.yml and the Dockerfile name, for a
# Docker host that reaches no image registry (only Debian's and PyPI's package mirrors).
#
#   deploy/compose/base-images.sh          # pull what is missing, else build a stand-in
#   PP_COMPOSE_STANDINS=always deploy/compose/base-images.sh   # never try to pull
#   deploy/compose/base-images.sh --list   # what is there, stand-in or official
#
# Each stand-in is built from Debian bookworm's packages: debian:bookworm-slim itself by
# debootstrap + `docker import`, then one Dockerfile per image (deploy/compose/standins/)
# that behaves as the official image does where compose relies on it (environment,
# entrypoint, paths, health commands). They carry the label org.pupil-progress.stand-in
# with a hash of their recipe: a changed recipe rebuilds them, and an image without the
# label (the real one, pulled from a registry) is never touched. On a host that can pull,
# the official images are pulled and nothing is built.
#
# The machine's own certificate authorities (/usr/local/share/ca-certificates, what
# Debian's update-ca-certificates adds to the bundle) go into the stand-in base, so that
# pip and apt inside builds reach the package mirrors exactly as the host does. They are
# copied from the host at build time, never from the repository.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD

MIRROR=${PP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
LABEL=org.pupil-progress.stand-in

# image name  →  recipe folder under standins/ (debian:bookworm-slim is made by debootstrap)
IMAGES=(
  "python:3.11-slim-bookworm python"
  "postgres:16 postgres"
  "rabbitmq:3.13-management rabbitmq"
  "nginx:1.27 nginx"
  "axllent/mailpit:v1.21 mailpit"
)

log() { printf '== %s\n' "$*" >&2; }

# The recipe's hash: the stand-in's folder; for the base, its recipe's version (bump
# BASE_RECIPE when build_base changes), the mirror and the host's CAs.
BASE_RECIPE=1
recipe_hash() {
  if [ "$1" = base ]; then
    { echo "$BASE_RECIPE $SUITE $MIRROR"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; }
  else
    tar -C "$HERE/standins/$1" -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=a+rX .
  fi | sha256sum | cut -c1-16
}

label_of() { docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

# "missing" | "official" | "stale" | "current"
state_of() {
  local image=$1 want=$2
  if ! docker image inspect "$image" >/dev/null 2>&1; then echo missing; return; fi
  local have; have=$(label_of "$image")
  if [ -z "$have" ] || [ "$have" = "<no value>" ]; then echo official
  elif [ "$have" = "$want" ]; then echo current
  else echo stale; fi
}

build_base() {
  local want=$1
  command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  local root; root=$(mktemp -d /var/tmp/pp-debootstrap.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  log "debootstrap $SUITE (minbase) from $MIRROR"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
  rm -f "$root.log"
  # As Debian's official image: every suite's updates, no services started by package
  # scripts, no caches kept in layers.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${PP_DEBIAN_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security} $SUITE-security main
EOF
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90pp-no-recommends"
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
  fi
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*
  log "docker import debian:$SUITE-slim"
  tar -C "$root" -c --numeric-owner . | docker import \
    -c "LABEL $LABEL=$want" -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - "debian:$SUITE-slim" >/dev/null
}

# Built from a copy readable by all: COPY keeps a file's mode, and a clone made with umask
# 077 holds the recipes' scripts as 0700/0600, which the images' own users (postgres,
# rabbitmq, nobody) could not run or read. The hash above counts the modes the same way.
build_standin() {
  local image=$1 recipe=$2 want=$3 context
  log "building stand-in $image (standins/$recipe)"
  context=$(mktemp -d)
  cp -R "$HERE/standins/$recipe/." "$context/"
  chmod -R a+rX "$context"
  docker build -q --label "$LABEL=$want" -t "$image" "$context" >/dev/null || { rm -rf "$context"; return 1; }
  rm -rf "$context"
}

if [ "${1:-}" = "--list" ]; then
  for entry in "debian:$SUITE-slim base" "${IMAGES[@]}"; do
    set -- $entry
    printf '%-28s %s\n' "$1" "$(state_of "$1" "$(recipe_hash "$2")")"
  done
  exit 0
fi

# Which images need a stand-in: ours that are stale, and missing ones that no registry
# gives (a pull is tried first, unless PP_COMPOSE_STANDINS=always).
todo=()
ours=()
for entry in "${IMAGES[@]}"; do
  set -- $entry
  state=$(state_of "$1" "$(recipe_hash "$2")")
  case $state in
    current) ours+=("$entry") ;;
    stale) todo+=("$entry") ;;
    missing)
      if [ "${PP_COMPOSE_STANDINS:-auto}" != always ] && timeout 600 docker pull -q "$1" >/dev/null 2>&1; then
        log "pulled $1"
      else
        todo+=("$entry")
      fi ;;
  esac
done

if [ ${#todo[@]} -gt 0 ] || [ ${#ours[@]} -gt 0 ]; then
  case $(state_of "debian:$SUITE-slim" "$(recipe_hash base)") in
    missing|stale)
      build_base "$(recipe_hash base)"
      # Stand-ins made on an older base are rebuilt with it (docker's cache keeps this cheap).
      todo+=("${ours[@]}") ;;
  esac
fi
for entry in "${todo[@]}"; do
  set -- $entry
  build_standin "$1" "$2" "$(recipe_hash "$2")"
done
log "base images ready"
