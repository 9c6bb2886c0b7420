#!/usr/bin/env bash
# The benchmarks from the repository's .venv, after raising the open-file limit:
#   bash bench/run.sh [ARGS]        the fan-out benchmark (fanout.py; 10,000 clients, 1 cold + 3 alerts, C floor)
#   bash bench/run.sh push [ARGS]   the push benchmark (push.py; 10,000 web + 10,000 ios devices)
#   bash bench/run.sh dashboard [ARGS]  the dashboard in Chromium (dashboard.py; 2,000 devices)
# Arguments are passed on: bash bench/run.sh --clients 1000, bash bench/run.sh push --devices 1000
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
    echo "run.sh: no $PY; create it first (make test, or python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')" >&2
    exit 2
fi
# Every client holds a socket, on both ends: raise the open-file limit (the servers and the
# client processes inherit it and raise their soft limits up to it themselves).
if ! ulimit -n 65536 2>/dev/null; then
    hard=$(ulimit -Hn)
    ulimit -n "$hard"
    echo "run.sh: cannot raise the open-file limit to 65536 (hard limit $hard); using $(ulimit -n)" >&2
fi
if [ "${1:-}" = push ]; then
    shift
    exec "$PY" bench/push.py "$@"
fi
if [ "${1:-}" = dashboard ]; then
    shift
    exec "$PY" bench/dashboard.py "$@"
fi
exec "$PY" bench/fanout.py "$@"
