#!/usr/bin/env bash
# `make compose-test`: the compose network end to end on this machine, within a bounded time.
#   1. a Docker engine: Debian's docker.io, docker-compose and debootstrap installed when
#      missing, dockerd started when not running (log: var/dockerd.log);
#   2. the base image vir-base:bookworm made once from a Debian mirror (no registry is
#      reachable here) and reused; the CA certificates of $SSL_CERT_FILE (default: the system
#      bundle) copied into deploy/ca-certificates/ (ignored by git) so that pip works behind a
#      TLS-inspecting proxy;
#   3. tests/compose (vir compose init, docker-compose up -d --build, the pilot, a restart,
#      docker-compose down -v; each step timed);
#   4. one fixture-level test on the throwaway PostgreSQL and RabbitMQ that testcontainers
#      starts from the locally built images (VIR_TEST_INFRA=containers).
# Any failure, or going past COMPOSE_TEST_TIMEOUT seconds (default 1200), fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
budget=${COMPOSE_TEST_TIMEOUT:-1200}
started=$SECONDS
log() { printf '== compose-test: %s\n' "$*"; }
left() { echo $((budget - (SECONDS - started))); }
mkdir -p var

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null ||
  ! command -v debootstrap >/dev/null; then
  log "installing docker.io, docker-compose, debootstrap"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: var/dockerd.log)"
  nohup dockerd >var/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start: see var/dockerd.log"; exit 1; }
fi

# A run killed half-way leaves its stack behind, and dockerd would start it again (restart
# policies): remove what earlier runs of this script left (projects named vir-ci-*).
stale=$(docker ps -aq --filter name=^vir-ci-)
if [ -n "$stale" ]; then
  log "removing containers left by an earlier run"
  docker rm -f $stale >/dev/null
fi
# Best effort: a network the engine still counts an endpoint on cannot go, and needs not.
docker volume ls -q --filter name=^vir-ci- | xargs -r docker volume rm >/dev/null 2>&1 || true
docker network ls -q --filter name=^vir-ci- | xargs -r docker network rm >/dev/null 2>&1 || true

t=$SECONDS
if docker image inspect vir-base:bookworm >/dev/null 2>&1; then
  log "base image vir-base:bookworm: reused"
else
  timeout "$(left)" bash deploy/make-base-image.sh >var/base-image.log 2>&1 ||
    { tail -20 var/base-image.log; exit 1; }
  log "base image vir-base:bookworm: made in $((SECONDS - t)) s"
fi
# The CA bundle this machine's pip trusts (SSL_CERT_FILE; else Debian's system bundle).
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [ -s "$ca" ]; then
  cp "$ca" deploy/ca-certificates/build-ca.crt
  log "build CA: $ca"
fi

t=$SECONDS
VIR_COMPOSE_TEST=1 timeout --kill-after=30 "$(left)" \
  "$VENV/bin/pytest" -p no:cacheprovider -s -q --timeout 0 tests/compose
log "tests/compose: $((SECONDS - t)) s"

t=$SECONDS
TESTCONTAINERS_RYUK_DISABLED=true VIR_TEST_INFRA=containers timeout --kill-after=30 "$(left)" \
  "$VENV/bin/pytest" -p no:cacheprovider -q tests/integration/test_infra_fixtures.py
log "testcontainers fixtures: $((SECONDS - t)) s"
log "total: $((SECONDS - started)) s"
