#!/bin/sh
# On first start, initialise $PGDATA: the application role from POSTGRES_USER/POSTGRES_PASSWORD,
# owning one database per name of POSTGRES_DATABASES (space separated: a country's service
# nodes), reachable from the network with a password only. POSTGRES_CREATEDB=true lets the role
# create databases too (the test fixtures' throwaway server, tests/support/infra.py).
# Later starts just run the server.
set -eu
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
DATABASES=${POSTGRES_DATABASES-}
case "${POSTGRES_CREATEDB:-false}" in
true) ATTRIBUTES="LOGIN CREATEDB" ;;
*) ATTRIBUTES="LOGIN" ;;
esac

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # Build in a scratch directory and rename at the end, so that a start interrupted
    # half-way is redone in full next time instead of leaving a cluster without its databases.
    work="$PGDATA.init"
    rm -rf "$work"
    # Local socket: peer auth for the "postgres" OS user only. Network: SCRAM passwords.
    initdb -D "$work" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256
    echo "host all all all scram-sha-256" >> "$work/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$work/postgresql.conf"

    # Temporary server on the socket only, so nothing connects before setup is done.
    pg_ctl -D "$work" -o "-c listen_addresses=''" -w start
    # \getenv keeps the password out of argv; :"user" and :'pass' are quoted by psql.
    {
        printf '%s\n' '\getenv user POSTGRES_USER'
        printf '%s\n' '\getenv pass POSTGRES_PASSWORD'
        echo "CREATE ROLE :\"user\" $ATTRIBUTES PASSWORD :'pass';"
        for db in $DATABASES; do echo "CREATE DATABASE $db OWNER :\"user\";"; done
    } | psql -v ON_ERROR_STOP=1 --no-psqlrc --username=postgres --dbname=postgres
    pg_ctl -D "$work" -m fast -w stop
    mv "$work" "$PGDATA"
fi

exec postgres -D "$PGDATA" "$@"
