#!/usr/bin/env bash
# Entry point of the spikenas image (Dockerfile): runs its command, after one preparation.
#
# A Ray driver must run on a Ray node: ray.init(address=...) attaches to the raylet of its own
# machine. The API container starts the job drivers, so when the command is `spikenas ...` and
# SPIKENAS_RAY_ADDRESS names a cluster's head (host:port), this container first joins that
# cluster as a node with no CPUs and no GPUs: the drivers attach to it, and no trial is ever
# placed on it. `auto` (a node already runs here) and `ray://` (Ray Client) need no node.
# Every other command (`ray start` of the head and the workers, a shell) runs as given.
#
# RAY_JOIN_TRIES (default 30) and RAY_JOIN_INTERVAL (seconds, default 2): how long to wait for
# the head to accept the node.
set -euo pipefail

join_ray() {
    local address=$1 tries=${RAY_JOIN_TRIES:-30} interval=${RAY_JOIN_INTERVAL:-2} i
    for ((i = 1; i <= tries; i++)); do
        if ray start --address="$address" --num-cpus=0 --num-gpus=0 --disable-usage-stats; then
            return 0
        fi
        echo "entrypoint: the Ray head at $address does not accept this node yet ($i/$tries)" >&2
        sleep "$interval"
    done
    echo "entrypoint: could not join the Ray cluster at $address; giving up" >&2
    return 1
}

if [[ ${1:-} == spikenas && -n ${SPIKENAS_RAY_ADDRESS:-} ]]; then
    case $SPIKENAS_RAY_ADDRESS in
        auto | ray://*) ;;
        *) join_ray "$SPIKENAS_RAY_ADDRESS" ;;
    esac
fi
exec "$@"
