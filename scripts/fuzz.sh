#!/usr/bin/env bash
# Fuzz the running service against its own OpenAPI schema with Schemathesis.
#
# Starts the production WSGI server (gunicorn, DEBUG off) on a scratch
# database, creates a user and a real access token, and runs every
# Schemathesis check (all are on by default; scripts/schemathesis.toml lists
# the one exception) over every operation: no 5xx, every response, status code
# and content type as documented, schema-violating input rejected.
#   FUZZ_DATABASE_URL  database to use (default: a fresh SQLite file)
#   FUZZ_MAX_EXAMPLES  examples per operation (default 40)
#   FUZZ_PORT          port (default 8765)
#   FUZZ_REQUEST_TIMEOUT  seconds per request (default 60). Every POST is sent
#                      with an Idempotency-Key, and a keyed POST runs in one
#                      transaction with its key row: on SQLite that holds the
#                      database's write lock for the whole request, password
#                      hashing included, so others queue behind it (up to the
#                      30 s busy timeout, then 503). Schemathesis' 10 s default
#                      turns that queue into network errors.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PORT=${FUZZ_PORT:-8765}
WORK=$(mktemp -d)
trap 'kill "${SERVER_PID:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

export DEBUG=0
export SECRET_KEY="fuzz-only-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS=127.0.0.1,localhost
export SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0
export THROTTLE_REGISTER=100000/min THROTTLE_LOGIN=100000/min THROTTLE_USER=100000/min
export THROTTLE_PASSWORD_RESET=100000/min THROTTLE_PASSWORD_RESET_EMAIL=100000/min
export THROTTLE_ANON=100000/min
export DATABASE_URL=${FUZZ_DATABASE_URL:-sqlite:///$WORK/fuzz.sqlite3}
export LOG_LEVEL=ERROR

"$BIN/python" manage.py migrate --noinput -v0
"$BIN/python" manage.py createcachetable
"$BIN/python" manage.py seed_catalog >/dev/null
TOKEN=$("$BIN/python" manage.py shell -c '
from users.services import user_register
from users.tokens import token_pair
from users.models import User
user = User.objects.filter(email="fuzz@example.com").first() or user_register(
    email="fuzz@example.com", password="fuzzing-password-42")
print(token_pair(user)["access"])' | tail -n 1)

"$BIN/gunicorn" config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
  --log-level warning >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

"$BIN/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/api/schema/" \
  --wait-for-schema 30 \
  --request-timeout "${FUZZ_REQUEST_TIMEOUT:-60}" \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "${FUZZ_MAX_EXAMPLES:-40}" \
  --seed "${FUZZ_SEED:-1}" \
  --phases examples,coverage,fuzzing,stateful \
  --workers 2 \
  --suppress-health-check all \
  "$@" || { echo "--- server log"; tail -n 50 "$WORK/server.log"; exit 1; }
