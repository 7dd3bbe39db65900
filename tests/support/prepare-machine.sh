#!/usr/bin/env bash
# Prepares this machine for `make test`, idempotently: PostgreSQL and RabbitMQ started, the RabbitMQ
# plugins the tests use enabled (management: a vhost per test; federation: the link tests), and
# Debian's Chromium for the browser tests. Run by `make test` (and so by .ci/run); safe to re-run.
# Where a step needs root and we are not root, it says what to run instead and goes on.
set -uo pipefail

log() { printf '== prepare: %s\n' "$*"; }
as_root() { [ "$(id -u)" = 0 ]; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      log "timed out waiting for $what"
      return 1
    fi
    sleep 1
  done
}

apt_install() {  # apt_install PACKAGE...: Debian packages, once per run
  if ! as_root || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* here (needs root and apt-get): install it, then re-run"
    return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL (these machines: trust auth on 127.0.0.1:5432).
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  if as_root && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    wait_for 60 PostgreSQL pg_isready -h 127.0.0.1 -p 5432 || true
  else
    log "no PostgreSQL answers on 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another)"
  fi
fi

# RabbitMQ, with the plugins the tests use.
if command -v rabbitmqctl >/dev/null 2>&1 && as_root; then
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    rabbitmq-server -detached
  fi
  wait_for 120 RabbitMQ rabbitmqctl -q await_startup || true
  # A fault test stops the broker's application; make sure a previous run left it started.
  rabbitmqctl -q start_app >/dev/null 2>&1 || true
  enabled=$(rabbitmq-plugins list -e -m 2>/dev/null || true)
  missing=()
  for plugin in rabbitmq_management rabbitmq_federation rabbitmq_federation_management; do
    grep -qx "$plugin" <<<"$enabled" || missing+=("$plugin")
  done
  if ((${#missing[@]})); then
    log "enabling RabbitMQ plugins: ${missing[*]}"
    rabbitmq-plugins enable --quiet "${missing[@]}"
  fi
  wait_for 120 "RabbitMQ management API" curl -sf -u guest:guest http://127.0.0.1:15672/api/overview ||
    true
elif ! curl -sf -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; then
  log "RabbitMQ's management API does not answer on 15672: run (as root)"
  log "  rabbitmq-plugins enable rabbitmq_management rabbitmq_federation rabbitmq_federation_management"
fi

# docker-compose validates the compose file in the tests (Debian's package); best effort.
command -v docker-compose >/dev/null 2>&1 || {
  log "installing docker-compose (validation of docker-compose.yml)"
  apt_install docker-compose || log "docker-compose missing: its validation test will be skipped"
}

# bench/registration_rate.py drives the API with wrk (Debian's package); best effort.
command -v wrk >/dev/null 2>&1 || {
  log "installing wrk (registration benchmark)"
  apt_install wrk || log "wrk missing: make bench's registration_rate will say so"
}

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
[ -x /usr/bin/chromium ] || {
  log "installing chromium (browser tests)"
  apt_install chromium || log "chromium missing: the browser tests will fail with that reason"
}
exit 0
