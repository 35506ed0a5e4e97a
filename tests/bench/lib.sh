# Shared helpers for the benchmark scripts: a throwaway PostgreSQL cluster,
# medians, and peak memory. Source it; it sets PGPORT, PGHOST and BENCH_DIR.

set -euo pipefail

bench_pg_bin() {
    local dir
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2; exit 1; }
    echo "$dir"
}

# A free TCP port on 127.0.0.1.
bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (up to 10 s) until pgdoor at base URL $1 answers /healthz, then
# loads its page once: the first load compresses the UI (about a second),
# which no measure should include or share the machine with.
bench_wait_healthy() {
    for _ in $(seq 100); do
        curl -sf "$1/healthz" >/dev/null && { curl -s -o /dev/null "$1/"; return; }
        sleep 0.1
    done
    echo "pgdoor at $1 did not start" >&2
    return 1
}

# Opens /connect/<$2> on pgdoor at base URL $1; prints "<session id> <binding key>".
bench_session() {
    local headers sid key
    headers=$(curl -s -D - -o /dev/null "$1/connect/$2")
    sid=$(grep -i '^location:' <<<"$headers" | sed 's/.*session=//' | tr -d '\r')
    key=$(grep -i '^set-cookie:' <<<"$headers" | sed 's/.*pgdoor_bind=\([0-9a-f]*\).*/\1/')
    echo "$sid $key"
}

# Starts a cluster in a temp dir on a free port, with a `bench` role
# (password `bench`, SCRAM) and TLS; stops and removes it on exit.
bench_start_cluster() {
    local bin runas=()
    bin=$(bench_pg_bin)
    BENCH_DIR=$(mktemp -d /tmp/pgdoor-bench.XXXXXX)
    chmod 755 "$BENCH_DIR"
    if [ "$(id -u)" -eq 0 ]; then runas=(runuser -u postgres --); chown postgres:postgres "$BENCH_DIR"; fi
    PGPORT=$(bench_free_port)
    PGHOST=127.0.0.1
    export PGPORT PGHOST BENCH_DIR
    "${runas[@]}" "$bin/initdb" -D "$BENCH_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    "${runas[@]}" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$BENCH_DIR/data/server.key" -out "$BENCH_DIR/data/server.crt" 2>/dev/null
    cat >> "$BENCH_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$BENCH_DIR'
ssl = on
max_connections = ${BENCH_MAX_CONNECTIONS:-200}
password_encryption = 'scram-sha-256'
CONF
    printf 'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n' \
        > "$BENCH_DIR/data/pg_hba.conf"
    trap bench_stop_cluster EXIT
    "${runas[@]}" "$bin/pg_ctl" -D "$BENCH_DIR/data" -l "$BENCH_DIR/server.log" -w start >/dev/null
    psql -X -q -U postgres -d postgres -c "CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench'"
    BENCH_PG_CTL=("${runas[@]}" "$bin/pg_ctl" -D "$BENCH_DIR/data")
}

bench_stop_cluster() {
    "${BENCH_PG_CTL[@]}" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$BENCH_DIR"
}

# Median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# Runs a command under /usr/bin/time; prints "<wall seconds> <peak RSS kB>".
timed() {
    local log
    log=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$log" "$@" >/dev/null
    cat "$log"
    rm -f "$log"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# Replaces (or appends) the block between `<!-- NAME:start -->` and
# `<!-- NAME:end -->` in BENCHMARKS.md with the text given; the text carries the markers.
bench_write_section() {
    python3 - "$1" "$2" <<'PY'
import pathlib, re, sys
name, block = sys.argv[1], sys.argv[2]
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else (
    "# Benchmarks\n\nEvery number here was measured by the command named with it, against a baseline taken in the same run.\n")
pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
path.write_text(text)
PY
}
