#!/usr/bin/env bash
# What `make compose-test` needs on a Debian 12 machine, from Debian's packages (run as root;
# CI's .ci/run calls it): the Docker engine (docker.io), debootstrap (for the local base
# images, deploy/compose/base-images.sh), and the compose plugin (`docker compose`, v2).
# Debian 12 packages compose v1 only (`docker-compose` 1.29, which predates the compose
# file's top-level `name`); v2 is Debian 13's package docker-compose, a Go program that needs
# nothing but the C library: its .deb is fetched through a private apt list (the machine's
# own sources are left as they are) and installed.
set -euo pipefail

log() { printf '== %s\n' "$*" >&2; }
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker.io brings a docker client; a newer one already on PATH is kept.

if ! docker compose version >/dev/null 2>&1; then
  log "installing the compose plugin (Debian 13's docker-compose)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mirror=${PP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb $mirror trixie main" >"$work/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
            -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" download -qq docker-compose)
  dpkg -i "$work"/docker-compose_*.deb >/dev/null
  docker compose version >&2
fi
