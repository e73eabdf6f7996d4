#!/bin/sh
# The event store's login roles, one per process, each owning nothing: the postgres
# image runs this once, on the database's first start (docker-compose.yml mounts it
# into /docker-entrypoint-initdb.d/). `petition migrate` (eventstore-migrate) then
# grants each role its rights (eventstore/grants.py) after every migration.
#
# Names: PETITIONFLOW_WORKER_ROLE, PETITIONFLOW_PROJECTOR_ROLE, PETITIONFLOW_READER_ROLE,
# PETITIONFLOW_API_ROLE (docker-compose.yml); passwords: EVENTSTORE_WORKER_PASSWORD...
# (deploy/secrets/eventstore-roles.env). A role that exists already is left as it is, so running the
# script again changes nothing. Run by hand against a running server:
#   POSTGRES_USER=postgres POSTGRES_DB=petitionflow PGHOST=... sh deploy/eventstore-db-init.sh
set -e

for purpose in WORKER PROJECTOR READER API; do
    eval "role=\${PETITIONFLOW_${purpose}_ROLE:-}"
    eval "password=\${EVENTSTORE_${purpose}_PASSWORD:-}"
    [ -n "$role" ] || continue
    if [ -z "$password" ]; then
        echo "eventstore-db-init: EVENTSTORE_${purpose}_PASSWORD is empty: set the password of role $role" >&2
        exit 1
    fi
    # psql quotes the variables (:'role', :'password'); format() quotes them again
    # as an identifier and a literal, so no name or password can break the statement.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v role="$role" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SQL
    echo "eventstore-db-init: login role $role ($purpose)"
done
