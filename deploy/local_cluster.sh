#!/usr/bin/env bash
# The docker-compose topology on one machine, without Docker: PostgreSQL, a Ray head and a Ray
# worker as separate processes, and the API (`spikenas serve`). Runs a 4-trial search through the
# API, shows which Ray node each trial ran on, and tears everything down, also on failure or ^C.
#
#   deploy/local_cluster.sh [--report FILE] [--keep] [--timeout SECONDS]
#
#   --report FILE   write the job, its trials and the node of each trial to FILE (JSON)
#   --keep          keep the work directory (logs, artifacts) and the scratch database
#   --timeout S     how long the job may take (default 240)
#
# PostgreSQL: the server on 127.0.0.1:$PG_PORT (default 5432, trust auth for `postgres`) when it
# answers; otherwise, as root, installed from Debian and started the way .ci/run does (and stopped
# again at the end). The job gets a scratch database of its own, dropped at the end.
# Ray: both nodes on non-default ports picked free, --num-cpus 1 each, the custom resource
# spikenas_head or spikenas_worker to tell them apart, their own temp dir (so no other ray.init()
# on this machine finds this cluster) and a per-run token (RAY_AUTH_MODE=token).
# Loopback: the API and Ray's dashboard bind 127.0.0.1 and Ray's nodes advertise 127.0.0.1; Ray's
# GCS, raylets and worker processes listen on every interface (Ray has no option to narrow that),
# which the per-run token guards.
# The Python half of the work is deploy/local_cluster.py. VENV (default .venv) names the
# virtualenv whose ray, spikenas and python are used.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
HELPER=(env -u LOCAL_CLUSTER_RUN "$PY" "$ROOT/deploy/local_cluster.py")
PG_PORT=${PG_PORT:-5432}
REPORT=""
KEEP=0
JOB_TIMEOUT=240

while [[ $# -gt 0 ]]; do
    case $1 in
        --report) REPORT=$(realpath -m "$2"); shift 2 ;;
        --keep) KEEP=1; shift ;;
        --timeout) JOB_TIMEOUT=$2; shift 2 ;;
        -h | --help) sed -n '2,10p' "$0" | cut -c3-; exit 0 ;;
        *) echo "local-cluster: unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in "$PY" "$VENV/bin/ray" "$VENV/bin/spikenas"; do
    if [[ ! -x $tool ]]; then
        echo "local-cluster: $tool not found (make install, or set VENV)" >&2
        exit 2
    fi
done

# The settings of this run only: none of the caller's SPIKENAS_* variables leak into the API.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SPIKENAS_' || true)

STARTED=$SECONDS
log() { printf 'local-cluster [%3ds] %s\n' $((SECONDS - STARTED)) "$*"; }

# A short path: Ray's unix sockets live under its temp dir, and socket paths are limited to 107.
WORK=$(mktemp -d /tmp/spikenas-lc.XXXXXX)
RUN_ID=${WORK##*.}
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/data" "$WORK/artifacts"
DB_NAME=spikenas_lc_${RUN_ID,,}
ADMIN_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
DATABASE_URL=""
API_PID="" WORKER_PID="" HEAD_PID="" STEP_PID="" DB_CREATED=0 PG_STARTED=""

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# A long step in the background, waited for: bash runs a trap only once the foreground command
# returns, and `wait` returns as soon as a signal arrives, so a SIGTERM is acted on at once.
step() {
    "$@" &
    STEP_PID=$!
    wait "$STEP_PID"
}

# SIGTERM to the leader of a process group we started with setsid, then SIGKILL to the group.
stop_group() {
    local pid=$1 name=$2 grace=$3
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 2; i++)); do
        alive "$pid" || break
        sleep 0.5
    done
    if alive "$pid"; then
        log "$name did not stop in ${grace}s: killing its process group"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

sweep() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        if grep -qxzF "LOCAL_CLUSTER_RUN=$RUN_ID" "$environ" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null && log "killed leftover process $pid"
        fi
    done
}

show_logs() {
    local f
    for f in "$LOGS"/*.log "$WORK"/artifacts/job-*/driver.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of ${f#"$WORK"/}"
        tail -n 25 "$f"
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [[ $rc -ne 0 ]]; then
        log "failed (exit $rc); logs follow"
        show_logs
    fi
    log "tearing down"
    if alive "$STEP_PID"; then kill -TERM "$STEP_PID" 2>/dev/null; fi
    stop_group "$API_PID" api 30
    stop_group "$WORKER_PID" ray-worker 20
    stop_group "$HEAD_PID" ray-head 20
    sweep
    if [[ $DB_CREATED == 1 && $KEEP == 0 ]]; then
        "${HELPER[@]}" db drop "$ADMIN_URL" "$DB_NAME" || log "could not drop database $DB_NAME"
    fi
    if [[ -n $PG_STARTED ]]; then
        pg_ctlcluster --skip-systemctl-redirect "$PG_STARTED" main stop || true
    fi
    if [[ $KEEP == 1 ]]; then
        log "kept $WORK and database $DB_NAME"
    else
        rm -rf "$WORK"
    fi
    log "done, exit $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- PostgreSQL, as .ci/run provides it
postgres_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }
if postgres_up; then
    log "PostgreSQL answers on 127.0.0.1:$PG_PORT: using it"
else
    [[ $(id -u) == 0 ]] || { log "PostgreSQL is not running and installing it needs root"; exit 1; }
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        log "installing PostgreSQL from Debian"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        log "PostgreSQL $version runs but does not answer on 127.0.0.1:$PG_PORT (PG_PORT?)"
        exit 1
    fi
    # listen_addresses stays Debian's default, localhost. Stopped again at the end.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    PG_STARTED=$version
    for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
    postgres_up || { log "PostgreSQL did not start"; exit 1; }
    log "started PostgreSQL $version on 127.0.0.1:$PG_PORT"
fi
"${HELPER[@]}" db create "$ADMIN_URL" "$DB_NAME"
DB_CREATED=1
log "scratch database $DB_NAME; work directory $WORK"

# ---- Ray: a head and a worker, separate processes on free ports, with a token
mapfile -t PORTS < <("${HELPER[@]}" free-ports 16)
GCS_PORT=${PORTS[0]}
API_PORT=${PORTS[1]}
RAY_ADDRESS_LOCAL=127.0.0.1:$GCS_PORT
umask 077
"$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/ray-auth-token"
umask 022
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$WORK/ray-auth-token RAY_USAGE_STATS_ENABLED=0

# ray start options that every node needs on a machine shared with other Ray nodes: its own
# ports (first free port at index $1 of PORTS), loopback, a small object store, no usage stats.
node_options() {
    local i=$1
    printf '%s\n' \
        --block --node-ip-address=127.0.0.1 --num-cpus=1 --num-gpus=0 \
        --object-store-memory=100000000 --disable-usage-stats \
        --min-worker-port=0 --max-worker-port=0 \
        "--node-manager-port=${PORTS[i]}" "--object-manager-port=${PORTS[i + 1]}" \
        "--dashboard-agent-listen-port=${PORTS[i + 2]}" \
        "--dashboard-agent-grpc-port=${PORTS[i + 3]}" \
        "--runtime-env-agent-port=${PORTS[i + 4]}" "--metrics-export-port=${PORTS[i + 5]}"
}
mapfile -t HEAD_OPTIONS < <(node_options 2)
mapfile -t WORKER_OPTIONS < <(node_options 8)

# Every process started here carries LOCAL_CLUSTER_RUN=<this run> in its environment, and so do
# their children (Ray's workers, the job's driver): teardown ends stragglers by that mark only.
LOCAL_CLUSTER_RUN=$RUN_ID setsid "$VENV/bin/ray" start --head --port="$GCS_PORT" \
    "${HEAD_OPTIONS[@]}" --resources='{"spikenas_head": 1}' --temp-dir="$WORK/ray" \
    --include-dashboard=false --dashboard-host=127.0.0.1 --dashboard-port="${PORTS[14]}" \
    >"$LOGS/ray-head.log" 2>&1 &
HEAD_PID=$!
until "$VENV/bin/ray" health-check --address "$RAY_ADDRESS_LOCAL" >/dev/null 2>&1; do
    alive "$HEAD_PID" || { log "the Ray head exited"; exit 1; }
    ((SECONDS - STARTED < 120)) || { log "the Ray head did not come up"; exit 1; }
    sleep 1
done
log "Ray head up at $RAY_ADDRESS_LOCAL (pid $HEAD_PID, resource spikenas_head)"

LOCAL_CLUSTER_RUN=$RUN_ID setsid "$VENV/bin/ray" start --address="$RAY_ADDRESS_LOCAL" \
    "${WORKER_OPTIONS[@]}" --resources='{"spikenas_worker": 1}' \
    >"$LOGS/ray-worker.log" 2>&1 &
WORKER_PID=$!
step "${HELPER[@]}" wait-nodes "$RAY_ADDRESS_LOCAL" 2 --timeout 90
alive "$WORKER_PID" || { log "the Ray worker exited"; exit 1; }
log "Ray worker joined (pid $WORKER_PID, resource spikenas_worker)"

# ---- the API, configured through the settings contract only
DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/$DB_NAME
env LOCAL_CLUSTER_RUN="$RUN_ID" \
    SPIKENAS_DATABASE_URL="$DATABASE_URL" \
    SPIKENAS_DATA_DIR="$WORK/data" \
    SPIKENAS_ARTIFACTS_DIR="$WORK/artifacts" \
    SPIKENAS_RAY_ADDRESS="$RAY_ADDRESS_LOCAL" \
    setsid "$VENV/bin/spikenas" serve --host 127.0.0.1 --port "$API_PORT" \
    >"$LOGS/api.log" 2>&1 &
API_PID=$!
API=http://127.0.0.1:$API_PORT
until "${HELPER[@]}" wait-http "$API/api/health" --timeout 1 >/dev/null 2>&1; do
    alive "$API_PID" || { log "the API exited"; exit 1; }
    ((SECONDS - STARTED < 180)) || { log "the API did not come up"; exit 1; }
done
log "API up at $API (pid $API_PID)"

# ---- a small job through the API
cat >"$WORK/job-spec.json" <<'EOF'
{
  "name": "local-cluster",
  "dataset": {"name": "digits"},
  "n_trials": 4,
  "max_concurrent": 2,
  "budget": {"epochs": 1},
  "sampler": "random",
  "objectives": ["accuracy", "params", "spike_rate"],
  "seed": 0,
  "space": {"dims": [16], "min_depth": 1, "max_depth": 1, "time_steps": [2], "downsample": [2]}
}
EOF
step "${HELPER[@]}" run-job "$API" "$WORK/job-spec.json" \
    --timeout "$JOB_TIMEOUT" --out "$WORK/job.json"

# ---- where the trials ran
step "${HELPER[@]}" placement "$RAY_ADDRESS_LOCAL" "$DATABASE_URL" \
    "$WORK/artifacts" "$WORK/job.json" \
    --out "${REPORT:-$WORK/report.json}"
log "job succeeded with trials on the worker node"
