#!/bin/sh
# Prepares a national broker before it starts (docker-compose.yml's one-shot services
# broker-config-tg and broker-config-ml). Runs in the app image, as root, once per
# `docker-compose up`; the broker waits for it (depends_on: service_completed_successfully).
#
#   1. copies the country's certificates (deploy/tls/make-certs.sh OUT TG=rabbitmq-tg ML=rabbitmq-ml
#      wrote them to OUT/<cc>/, mounted read-only at $VIR_BROKER_TLS_SOURCE) into
#      $VIR_BROKER_CONFIG_DIR/tls/, owned by the broker's rabbitmq user, keys mode 0600;
#   2. writes $VIR_BROKER_CONFIG_DIR/definitions.json with `vir topology national`, the users'
#      passwords ($VIR_BROKER_PASSWORDS: `user=password` lines, one per user of this broker but
#      the federation-* ones) turned into salted hashes. The passwords go to vir on a pipe: no
#      plain-text copy is written anywhere.
#
# The config directory is a named volume mounted in the broker at the same path (read-only);
# the broker's entrypoint (VIR_BROKER_MODE=national) links its files into /etc/rabbitmq.
set -eu

: "${VIR_BROKER_COUNTRY:?VIR_BROKER_COUNTRY must be set, e.g. TG}"
: "${VIR_BROKER_PASSWORDS:?VIR_BROKER_PASSWORDS must hold user=password lines}"
peers=${VIR_BROKER_PEERS:-}                    # COUNTRY=HOST[:PORT], space separated
network=${VIR_BROKER_NETWORK_SERVICES:-false}  # true on the broker of matching/notifications
out=${VIR_BROKER_CONFIG_DIR:-/etc/vir-broker}
tls_in=${VIR_BROKER_TLS_SOURCE:-/run/vir/tls}
uid=${VIR_BROKER_UID:-999}                     # the rabbitmq user of deploy/rabbitmq/Dockerfile
gid=${VIR_BROKER_GID:-$uid}

for f in ca.pem server.pem server.key client.pem client.key; do
    if [ ! -s "$tls_in/$f" ]; then
        echo "broker-config: $tls_in/$f is missing; make the certificates first:" \
            "deploy/tls/make-certs.sh deploy/tls/out TG=rabbitmq-tg ML=rabbitmq-ml" >&2
        exit 1
    fi
done

umask 077
install -d -o "$uid" -g "$gid" -m 0700 "$out/tls"
install -o "$uid" -g "$gid" -m 0644 "$tls_in/ca.pem" "$tls_in/server.pem" "$tls_in/client.pem" "$out/tls/"
install -o "$uid" -g "$gid" -m 0600 "$tls_in/server.key" "$tls_in/client.key" "$out/tls/"

set -- --country "$VIR_BROKER_COUNTRY"
for peer in $peers; do
    set -- "$@" --peer "$peer"
done
if [ "$network" = true ]; then
    set -- "$@" --hosts-network-services
fi
# Written next to the old file, then renamed over it: a broker never reads half a file.
printf '%s\n' "$VIR_BROKER_PASSWORDS" \
    | vir topology national "$@" --passwords-file /dev/stdin --output "$out/definitions.json.new"
chown "$uid:$gid" "$out/definitions.json.new"
chmod 0600 "$out/definitions.json.new"
mv -f "$out/definitions.json.new" "$out/definitions.json"
echo "broker-config: $VIR_BROKER_COUNTRY definitions and certificates written to $out"
