#!/usr/bin/env bash
# Reach PostgreSQL and Redis at UNDERDOG_DATABASE_URL / UNDERDOG_REDIS_URL; start the local
# ones if they are down; say exactly what to install if they are missing.
set -euo pipefail

db_url=${UNDERDOG_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/underdog}
redis_url=${UNDERDOG_REDIS_URL:-redis://127.0.0.1:6379/0}
py=${PYTHON:-.venv/bin/python}

pg_up() { "$py" - "$db_url" <<'PY'
import sys, psycopg
from psycopg import conninfo
params = conninfo.conninfo_to_dict(sys.argv[1]); params["dbname"] = "postgres"
try:
    psycopg.connect(conninfo.make_conninfo(**params), connect_timeout=3).close()
except psycopg.OperationalError:
    sys.exit(1)
PY
}

redis_up() { "$py" -c "import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()" "$redis_url" >/dev/null 2>&1; }

wait_for() {  # wait_for NAME CHECK: up to 30 s
  for _ in $(seq 1 30); do "$2" && return 0; sleep 1; done
  echo "error: $1 did not come up" >&2; return 1
}

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version (cluster main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  elif command -v pg_ctl >/dev/null && [ -n "${PGDATA:-}" ]; then
    echo "starting PostgreSQL in $PGDATA"
    pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" start || true
  else
    echo "error: PostgreSQL is not reachable at UNDERDOG_DATABASE_URL and is not installed here." >&2
    echo "  Debian/Ubuntu: apt-get install postgresql   (15 or newer; TimescaleDB optional)" >&2
    echo "  or point UNDERDOG_DATABASE_URL at a running server." >&2
    exit 1
  fi
  wait_for PostgreSQL pg_up
fi
echo "PostgreSQL: reachable"

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "starting redis-server"
    mkdir -p /tmp/underdog-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --maxmemory 512mb --maxmemory-policy allkeys-lru --dir /tmp/underdog-redis \
      --logfile /tmp/underdog-redis/redis.log
  else
    echo "error: Redis is not reachable at UNDERDOG_REDIS_URL and is not installed here." >&2
    echo "  Debian/Ubuntu: apt-get install redis-server   (or point UNDERDOG_REDIS_URL at one)" >&2
    exit 1
  fi
  wait_for Redis redis_up
fi
echo "Redis: reachable"
