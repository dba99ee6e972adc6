#!/bin/sh
# Container start: wait for the database, bring the schema, the cache table and
# the default catalog up to date, then hand the process over to the WSGI server
# (exec, so that it receives SIGTERM and drains in-flight requests).
#   RUN_MIGRATIONS=0        skip migrate/seed (e.g. when a release job does them)
#   DB_WAIT_SECONDS         how long to wait for the database (default 60)
# With arguments, it runs that manage.py command instead of the server (the
# worker and scheduler services of docker-compose.yml).
set -eu
cd "$(dirname "$0")/.."

python manage.py wait_for_database --timeout "${DB_WAIT_SECONDS:-60}"
if [ "${RUN_MIGRATIONS:-1}" = "1" ]; then
  # migrate, createcachetable, seed_catalog; instances starting together take turns
  python manage.py release
fi

if [ "$#" -gt 0 ]; then
  exec python manage.py "$@"
fi
exec bin/serve
