#!/usr/bin/env bash
# A real Letta server for the integration tests, installed with pip alone:
#
#   tests/tools/letta-server.sh DIR install   once per machine: ~2 minutes, ~1.3 GB under DIR
#   tests/tools/letta-server.sh DIR start     ~15 s; does nothing when the server is already up
#   tests/tools/letta-server.sh DIR stop      ends only the processes that start began
#   tests/tools/letta-server.sh DIR env       the variables a test needs
#
# What runs, all on 127.0.0.1:
#   Letta (PyPI letta==0.16.8)           :8283  LETTA_PORT
#   PostgreSQL 16 + pgvector (pgserver)  :5433  PG_PORT
#   Redis, for background runs (fakeredis) :6389  REDIS_PORT
#   tests/tools/scripted_model.py        :8399  MODEL_PORT  (agents use openai-proxy/fake-model)
#
# PostgreSQL refuses to run as root; as root its part runs as `nobody`, in a
# folder `nobody` can reach. Logs are in DIR/logs, process ids in DIR/run.
set -euo pipefail

dir="${1:?usage: letta-server.sh DIR install|start|stop|env}"
command="${2:?usage: letta-server.sh DIR install|start|stop|env}"
tools="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
letta_version="${LETTA_VERSION:-0.16.8}"
letta_port="${LETTA_PORT:-8283}"
pg_port="${PG_PORT:-5433}"
redis_port="${REDIS_PORT:-6389}"
model_port="${MODEL_PORT:-8399}"

mkdir -p "$dir/logs" "$dir/run" "$dir/home"
dir="$(cd "$dir" && pwd)"

as_postgres=()
pg_dir="$dir/postgres"
if [ "$(id -u)" = 0 ]; then
  as_postgres=(runuser -u nobody --)
  if ! "${as_postgres[@]}" test -x "$dir"; then pg_dir="${LETTA_SERVER_PG_DIR:-/var/tmp/letta-daemon-tests-postgres}"; fi
fi
# Where the pgserver wheel keeps PostgreSQL, whatever the venv's Python version.
pg_bin() {
  local found
  for found in "$pg_dir"/venv/lib/python3*/site-packages/pgserver/pginstall/bin; do
    echo "$found"
    return
  done
}

letta_up() {
  "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$letta_port/v1/health/', timeout=2)" 2>/dev/null
}

# Pins every dependency to the versions in the release's own uv.lock, so a new
# upload of some library cannot break the install.
write_constraints() {
  "$python" - "$1" <<'PY'
import re, sys
lock = open(sys.argv[1]).read()
versions = {}
pattern = r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"\nsource = ([^\n]+)'
for name, version, source in re.findall(pattern, lock):
    if name != "letta" and "editable" not in source and "virtual" not in source:
        versions.setdefault(name, set()).add(version)
for name in sorted(versions):
    if len(versions[name]) == 1:
        print(f"{name}=={next(iter(versions[name]))}")
PY
}

start_postgres() {
  mkdir -p "$pg_dir/socket" "$pg_dir/data"
  touch "$pg_dir/postgres.log"
  if [ ${#as_postgres[@]} -gt 0 ]; then chown nobody:nogroup "$pg_dir/socket" "$pg_dir/data" "$pg_dir/postgres.log"; fi
  if [ ! -s "$pg_dir/data/PG_VERSION" ]; then
    "${as_postgres[@]}" "$(pg_bin)/initdb" -D "$pg_dir/data" -U letta --auth=trust -E UTF8 > "$dir/logs/initdb.log"
  fi
  if ! "${as_postgres[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" status > /dev/null 2>&1; then
    "${as_postgres[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir/socket" start > /dev/null
  fi
  local psql=("$(pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U letta)
  if ! "${psql[@]}" -d postgres -tAc "select 1 from pg_database where datname = 'letta'" | grep -q 1; then
    "$(pg_bin)/createdb" -h 127.0.0.1 -p "$pg_port" -U letta letta
  fi
  "${psql[@]}" -d letta -qc "create extension if not exists vector"
  touch "$dir/run/postgres"
}

stop_postgres() {
  if [ -f "$dir/run/postgres" ]; then
    "${as_postgres[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m fast -w stop > /dev/null || true
    rm -f "$dir/run/postgres"
  fi
}

install() {
  if [ -f "$dir/installed" ] && [ -x "$(pg_bin)/pg_ctl" ]; then
    echo "already installed in $dir"
    return
  fi
  cd "$dir"
  # The source release carries uv.lock and the database migrations, which the wheel lacks.
  "$python" -m pip download --quiet --no-deps --no-binary :all: "letta==$letta_version" -d source
  tar -xzf "source/letta-$letta_version.tar.gz" -C source
  write_constraints "source/letta-$letta_version/uv.lock" > constraints.txt
  "$python" -m venv letta
  letta/bin/pip install --quiet --upgrade pip
  letta/bin/pip install --quiet -c constraints.txt "letta[server,sqlite,redis]==$letta_version" asyncpg pg8000 pgvector
  "$python" -m venv "$pg_dir/venv"
  "$pg_dir/venv/bin/pip" install --quiet "pgserver==0.1.4"
  "$python" -m venv redis
  redis/bin/pip install --quiet "fakeredis[lua]==2.40.0"
  start_postgres
  (cd "source/letta-$letta_version" && HOME="$dir/home" LETTA_DIR="$dir/home/.letta" \
    LETTA_PG_URI="postgresql://letta:letta@127.0.0.1:$pg_port/letta" \
    "$dir/letta/bin/alembic" upgrade head > "$dir/logs/migrations.log" 2>&1)
  stop_postgres
  touch "$dir/installed"
  echo "installed into $dir"
}

# Runs a program in the background, its output in logs/NAME.log, its pid in run/NAME.
spawn() {
  local name=$1
  shift
  nohup "$@" > "$dir/logs/$name.log" 2>&1 &
  echo $! > "$dir/run/$name"
}

start() {
  if letta_up; then
    echo "Letta already up on http://127.0.0.1:$letta_port"
    return
  fi
  [ -f "$dir/installed" ] || { echo "not installed: run '$0 $dir install' first" >&2; exit 1; }
  cd "$dir"
  start_postgres
  spawn redis redis/bin/python -c "from fakeredis import TcpFakeServer
TcpFakeServer(('127.0.0.1', $redis_port), server_type='redis').serve_forever()"
  spawn model "$python" "$tools/scripted_model.py" --port "$model_port"
  spawn letta env -u LETTA_PG_HOST -u LETTA_PG_USER -u LETTA_PG_PASSWORD -u LETTA_PG_DB -u LETTA_PG_PORT \
    HOME="$dir/home" LETTA_DIR="$dir/home/.letta" \
    LETTA_PG_URI="postgresql://letta:letta@127.0.0.1:$pg_port/letta" \
    LETTA_REDIS_HOST=127.0.0.1 LETTA_REDIS_PORT="$redis_port" \
    OPENAI_API_KEY=unused OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1" \
    letta/bin/letta server --host 127.0.0.1 --port "$letta_port"
  local started=$SECONDS
  until letta_up; do
    if ! kill -0 "$(cat run/letta)" 2>/dev/null; then
      echo "Letta exited while starting; see $dir/logs/letta.log" >&2
      exit 1
    fi
    if (( SECONDS - started > 180 )); then
      echo "Letta did not answer within 180 s; see $dir/logs/letta.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "Letta up on http://127.0.0.1:$letta_port after $((SECONDS - started)) s (model openai-proxy/fake-model)"
}

stop() {
  local name pid
  for name in letta model redis; do
    [ -s "$dir/run/$name" ] || continue
    pid="$(cat "$dir/run/$name")"
    if kill "$pid" 2>/dev/null; then
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$dir/run/$name"
  done
  stop_postgres
  echo "stopped"
}

print_env() {
  echo "LETTA_BASE_URL=http://127.0.0.1:$letta_port"
  echo "LETTA_TEST_MODEL=openai-proxy/fake-model"
  echo "LETTA_TEST_EMBEDDING=openai/text-embedding-3-small"
  echo "SCRIPTED_MODEL_URL=http://127.0.0.1:$model_port"
}

case "$command" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: letta-server.sh DIR install|start|stop|env" >&2; exit 2 ;;
esac
