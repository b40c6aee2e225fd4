#!/usr/bin/env bash
# A private PostgreSQL server for tests: Debian's packages, a temp dir, a free loopback port,
# no systemd. Durability is off (fsync, synchronous_commit): test data only.
#
#   tools/pg_test_server.sh start      prints "URL DIR" (URL: postgres://postgres@127.0.0.1:P/tollgate)
#   tools/pg_test_server.sh stop DIR   stops it and removes DIR
#   tools/pg_test_server.sh kill DIR   stops it at once, keeping DIR (a lost database)
#   tools/pg_test_server.sh resume DIR starts it again on the same port
#
# PG_TEST_SERVER_OPTIONS: more server options for start (e.g. "-c log_min_duration_statement=0").
# As root, the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "pg_test_server: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/tg-pg-XXXXXX)
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port=""
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
  done
  [ -n "$port" ] || { echo "pg_test_server: no free port" >&2; exit 1; }
  as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${PG_TEST_SERVER_OPTIONS:-}" >"$dir/options"
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres tollgate
  echo "postgres://postgres@127.0.0.1:$port/tollgate $dir"
  ;;
kill)
  dir=${2:?usage: pg_test_server.sh kill DIR}
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
  ;;
resume)
  dir=${2:?usage: pg_test_server.sh resume DIR}
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  dir=${2:?usage: pg_test_server.sh stop DIR}
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start | stop DIR | kill DIR | resume DIR" >&2; exit 2 ;;
esac
