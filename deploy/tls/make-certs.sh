#!/usr/bin/env bash
# Certificates of the federation links between national brokers (see docs/federation.md).
#
#   deploy/tls/make-certs.sh OUT_DIR TG=rabbitmq-tg ML=rabbitmq-ml [NE=rabbitmq-ne ...]
#
# Writes, under OUT_DIR:
#   ca/ca.pem, ca/ca.key      the network CA (made once, reused on later runs; keep ca.key offline)
#   <cc>/ca.pem               the CA certificate, to verify peers
#   <cc>/server.pem, .key     the broker's server certificate, SAN = its host name
#   <cc>/client.pem, .key     its federation client certificate, CN = federation-<cc>: the user
#                             its links log in as on the peers (EXTERNAL, no password)
# Copy <cc>/ to /etc/rabbitmq/tls/ on that country's broker (owner rabbitmq, keys mode 0600).
# Existing certificates are kept; delete a country's folder to re-issue its certificates.
# Validity in days: CA_DAYS (default 3650), CERT_DAYS (default 397).
set -euo pipefail

usage() {
  echo "usage: $0 OUT_DIR COUNTRY=HOST [COUNTRY=HOST ...]   e.g. $0 ./tls TG=rabbitmq-tg ML=rabbitmq-ml" >&2
  exit 2
}

[ "$#" -ge 2 ] || usage
out=$1
shift
ca_days=${CA_DAYS:-3650}
cert_days=${CERT_DAYS:-397}
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }

umask 077
mkdir -p "$out/ca"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$out/ca/ca.pem" ]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 \
    -days "$ca_days" -subj "/O=VIR Exchange/CN=VIR Exchange network CA" \
    -addext "basicConstraints=critical,CA:true,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$out/ca/ca.key" -out "$out/ca/ca.pem" 2>/dev/null
  chmod 0644 "$out/ca/ca.pem"
  echo "network CA: $out/ca/ca.pem"
fi

# issue NAME KIND CN SAN_OR_EMPTY: NAME.pem / NAME.key signed by the CA; KIND is server or client.
issue() {
  local dir=$1 name=$2 kind=$3 cn=$4 san=$5 ext
  if [ -s "$dir/$name.pem" ]; then
    echo "kept:   $dir/$name.pem"
    return
  fi
  ext="$work/$name.ext"
  {
    echo "basicConstraints=critical,CA:false"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid,issuer"
    if [ "$kind" = server ]; then
      echo "extendedKeyUsage=serverAuth"
      echo "subjectAltName=DNS:$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 \
    -subj "/O=VIR Exchange/CN=$cn" -keyout "$dir/$name.key" -out "$work/$name.csr" 2>/dev/null
  openssl x509 -req -in "$work/$name.csr" -CA "$out/ca/ca.pem" -CAkey "$out/ca/ca.key" \
    -CAcreateserial -CAserial "$out/ca/ca.srl" -days "$cert_days" -sha256 \
    -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  openssl verify -CAfile "$out/ca/ca.pem" "$dir/$name.pem" >/dev/null
  echo "issued: $dir/$name.pem ($kind, CN=$cn)"
}

for spec in "$@"; do
  country=${spec%%=*}
  host=${spec#*=}
  if [[ ! "$country" =~ ^[A-Za-z]{2}$ ]] || [ -z "$host" ] || [ "$host" = "$spec" ]; then
    echo "not COUNTRY=HOST: $spec" >&2
    usage
  fi
  cc=$(printf '%s' "$country" | tr '[:upper:]' '[:lower:]')
  dir="$out/$cc"
  mkdir -p "$dir"
  cp "$out/ca/ca.pem" "$dir/ca.pem"
  issue "$dir" server server "$host" "$host"
  issue "$dir" client client "federation-$cc" ""
  chmod 0644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"
  chmod 0600 "$dir/server.key" "$dir/client.key"
done
