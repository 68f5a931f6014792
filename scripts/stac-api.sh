#!/usr/bin/env bash
# Starts or stops a STAC API with the Transactions extension on loopback:
# stac-fastapi-pgstac (from the .venv-api venv) on PostgreSQL 15 + PostGIS,
# with pgstac's schema migrated by pypgstac. Used by the integration tests.
#
#   scripts/stac-api.sh install               # the venv (pinned); system packages come from install-system-deps.sh
#   scripts/stac-api.sh start DIR API_PORT PG_PORT   # database + API
#   scripts/stac-api.sh stop-api DIR                 # the API only (the database stays)
#   scripts/stac-api.sh serve DIR API_PORT PG_PORT   # the API again, on the same database
#   scripts/stac-api.sh tiler DIR TILER_PORT PG_PORT # titiler-pgstac on the same database
#   scripts/stac-api.sh stop DIR                     # all of them
#
# The tiler reads assets with GDAL: on an S3-compatible server, give it
# AWS_S3_ENDPOINT, AWS_HTTPS=NO, AWS_VIRTUAL_HOSTING=FALSE and the keys in
# the environment.
#
# DIR holds the database cluster, the logs and the pid files; it is created.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${STACFORGE_API_VENV:-.venv-api}
pgbin=${PG_BIN:-/usr/lib/postgresql/15/bin}
req=scripts/stac-api-requirements.txt

# wait_ready DIR NAME URL TRIES: until URL answers, while the process in
# DIR/NAME.pid lives (its log, DIR/NAME.log, is shown if it dies).
wait_ready() {
  local dir=$1 name=$2 url=$3 tries=$4
  for _ in $(seq 1 "$tries"); do
    if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$url', timeout=1)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || { cat "$dir/$name.log" >&2; return 1; }
    sleep 0.2
  done
  echo "stac-api: $name gave no answer at $url; see $dir/$name.log" >&2
  return 1
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

case "${1:-}" in
install)
  if [ -x "$venv/bin/uvicorn" ] && cmp -s "$req" "$venv/.requirements"; then exit 0; fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
  ;;
start)
  dir=$(realpath -m "$2"); api_port=$3; pg_port=$4
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_postgres "$pgbin/initdb -D '$dir/pg' -A trust -U postgres >'$dir/initdb.log' 2>&1"
  as_postgres "$pgbin/pg_ctl -D '$dir/pg' -l '$dir/postgres.log' -w -o \"-p $pg_port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null"
  psql=(psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1)
  "${psql[@]}" -c "create role stac login superuser password 'stac'" >/dev/null
  "${psql[@]}" -c "create database stac owner stac" >/dev/null
  "${psql[@]}" -d stac -c "create extension postgis" -c "create extension btree_gist" >/dev/null
  PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=stac PGPASSWORD=stac PGDATABASE=stac \
    "$venv/bin/pypgstac" migrate >"$dir/migrate.log" 2>&1
  exec "$0" serve "$dir" "$api_port" "$pg_port"
  ;;
serve)
  dir=$(realpath -m "$2"); api_port=$3; pg_port=$4
  PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=stac PGPASSWORD=stac PGDATABASE=stac ENABLE_TRANSACTIONS_EXTENSIONS=TRUE \
    nohup "$venv/bin/uvicorn" stac_fastapi.pgstac.app:create_app --factory \
    --host 127.0.0.1 --port "$api_port" >>"$dir/api.log" 2>&1 &
  echo $! >"$dir/api.pid"
  wait_ready "$dir" api "http://127.0.0.1:$api_port/_mgmt/ping" 150
  ;;
tiler)
  dir=$(realpath -m "$2"); tiler_port=$3; pg_port=$4
  PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=stac PGPASSWORD=stac PGDATABASE=stac \
    GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR CPL_VSIL_CURL_ALLOWED_EXTENSIONS=.tif,.tiff \
    nohup "$venv/bin/uvicorn" titiler.pgstac.main:app \
    --host 127.0.0.1 --port "$tiler_port" >>"$dir/tiler.log" 2>&1 &
  echo $! >"$dir/tiler.pid"
  wait_ready "$dir" tiler "http://127.0.0.1:$tiler_port/healthz" 300
  ;;
stop-api)
  dir=$(realpath -m "$2")
  for name in ${3:-api}; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  ;;
stop)
  dir=$(realpath -m "$2")
  "$0" stop-api "$dir" "api tiler"
  [ -d "$dir/pg" ] && as_postgres "$pgbin/pg_ctl -D '$dir/pg' -m immediate stop >/dev/null 2>&1" || true
  ;;
*)
  echo "usage: $0 install | start DIR API_PORT PG_PORT | serve DIR API_PORT PG_PORT | tiler DIR TILER_PORT PG_PORT | stop-api DIR | stop DIR" >&2
  exit 2
  ;;
esac
