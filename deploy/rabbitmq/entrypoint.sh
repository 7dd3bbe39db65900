#!/bin/sh
# Debian's rabbitmq-server ignores RABBITMQ_DEFAULT_USER/PASS (they are only read through
# rabbitmq-env), so write them into rabbitmq.conf. They take effect only when the node
# first initialises its database; change credentials later with rabbitmqctl.
set -eu
: "${RABBITMQ_DEFAULT_USER:?RABBITMQ_DEFAULT_USER must be set}"
: "${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS must be set}"

umask 077   # the file holds a password
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER}
default_pass = ${RABBITMQ_DEFAULT_PASS}
# Let the default user log in over the network (only it exists: no built-in account).
loopback_users = none
CONF

if [ "${1:-}" = rabbitmq-server ]; then
    # Not /usr/sbin/rabbitmq-server: Debian's wrapper there redirects output to a file
    # and does not exec, so the node would neither log to stdout nor get signals.
    shift
    exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
