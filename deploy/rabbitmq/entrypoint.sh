#!/bin/sh
# Entrypoint of vir-rabbitmq:local. VIR_BROKER_MODE chooses how the node is configured:
#
#   single (default)  one broker for the whole network on one machine. Debian's rabbitmq-server
#                     ignores RABBITMQ_DEFAULT_USER/PASS (they are only read through rabbitmq-env),
#                     so write them into rabbitmq.conf. They take effect only when the node first
#                     initialises its database; change credentials later with rabbitmqctl.
#
#   national          a country's broker of the federated network (docs/federation.md;
#                     docker-compose.yml's rabbitmq-tg and rabbitmq-ml). rabbitmq.conf is the
#                     national one baked into the image (deploy/rabbitmq/rabbitmq.conf): it loads
#                     /etc/rabbitmq/definitions.json at every boot and serves amqps from
#                     /etc/rabbitmq/tls. Both are links into $VIR_BROKER_CONFIG_DIR (default
#                     /etc/vir-broker), which the country's broker-config service filled before
#                     this starts: the definitions with the users' password hashes, and the
#                     certificates, readable by this user only. Nothing is written into them and
#                     no default user is configured: the definitions' users are the only ones.
set -eu

case "${VIR_BROKER_MODE:-single}" in
single)
    : "${RABBITMQ_DEFAULT_USER:?RABBITMQ_DEFAULT_USER must be set}"
    : "${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS must be set}"
    umask 077   # the file holds a password
    cat > /etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER}
default_pass = ${RABBITMQ_DEFAULT_PASS}
# Let the default user log in over the network (only it exists: no built-in account).
loopback_users = none
CONF
    ;;
national)
    dir=${VIR_BROKER_CONFIG_DIR:-/etc/vir-broker}
    for f in definitions.json tls/ca.pem tls/server.pem tls/server.key tls/client.pem tls/client.key; do
        if [ ! -r "$dir/$f" ]; then
            echo "vir-rabbitmq: $dir/$f is missing or not readable by $(id -un) (uid $(id -u));" \
                "the broker-config service of this country writes it (docker-compose.yml)" >&2
            exit 1
        fi
    done
    cp /usr/share/vir-rabbitmq/national.conf /etc/rabbitmq/rabbitmq.conf
    ln -sfn "$dir/definitions.json" /etc/rabbitmq/definitions.json
    ln -sfn "$dir/tls" /etc/rabbitmq/tls
    ;;
*)
    echo "vir-rabbitmq: VIR_BROKER_MODE must be single or national, got '${VIR_BROKER_MODE}'" >&2
    exit 2
    ;;
esac

if [ "${1:-}" = rabbitmq-server ]; then
    # Not /usr/sbin/rabbitmq-server: Debian's wrapper there redirects output to a file
    # and does not exec, so the node would neither log to stdout nor get signals.
    shift
    exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
