#!/usr/bin/env bash
# The seed's quick start: fast trainer with the design document's settings.
# Uses $PYTHON (default: python on PATH, e.g. an activated venv). Logs go to logs/exp_<timestamp>_fast/; pass --out DIR to choose (and rerun with it to resume).
set -euo pipefail
exec "${PYTHON:-python}" -m workflow_rl train --trainer fast \
    --n-envs 200 \
    --total-episodes 100000 \
    --max-episodes 50 \
    --update-steps 50 \
    "$@"
