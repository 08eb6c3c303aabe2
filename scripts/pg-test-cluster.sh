#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the storage/postgres tests.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # prints export lines; eval sets them
#   go test -race -count=1 ./...
#   scripts/pg-test-cluster.sh stop "$GATEHOUSE_TEST_POSTGRES_DIR"
#
# start: initdb into a new temporary directory, then start the server there
# with its unix socket in that directory (mode 0700) and a TCP listener on a
# free loopback port (password-protected). fsync and synchronous_commit stay on,
# so the tests measure and prove what production does. Prints
# GATEHOUSE_TEST_POSTGRES_URL (every test creates and drops its own database
# through it) and GATEHOUSE_TEST_POSTGRES_DIR (what stop needs).
# stop: stops the server and removes the directory.
#
# Run as root, the server runs as the `postgres` user (initdb refuses root);
# otherwise as the calling user. Needs the PostgreSQL server binaries (Debian:
# apt-get install postgresql).
set -euo pipefail

die() { echo "pg-test-cluster: $*" >&2; exit 1; }

bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  fi
  # Debian keeps the server binaries out of PATH, one directory per version.
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] || die "no initdb found: install PostgreSQL (Debian: apt-get install postgresql)"
  echo "$d"
}

# as_owner runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free loopback port found"
}

start() {
  local bin dir port password
  bin=$(bindir)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-pg.XXXXXX")
  # Until the server is up, a failure removes what was made (and stops a
  # server that started but did not answer).
  started=
  trap '[ -n "$started" ] || { as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }' EXIT
  chmod 700 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a postgres user (Debian's postgresql package creates it)"
    chown postgres: "$dir"
  fi
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  port=$(free_port)
  # max_connections: parallel test packages each open a few pools.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on -c max_connections=300" \
    >/dev/null || { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
  started=1
  echo "export GATEHOUSE_TEST_POSTGRES_URL='postgres://postgres:$password@127.0.0.1:$port/postgres?sslmode=disable'"
  echo "export GATEHOUSE_TEST_POSTGRES_DIR='$dir'"
}

stop() {
  local dir=${1:-} bin
  [ -n "$dir" ] || die "usage: $0 stop DIR (the GATEHOUSE_TEST_POSTGRES_DIR that start printed)"
  [ -d "$dir/data" ] || die "$dir holds no cluster"
  bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  *) die "usage: $0 start | stop DIR" ;;
esac
