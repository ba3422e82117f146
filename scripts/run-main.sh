#!/usr/bin/env bash
# Sets up everything (Debian packages, configure, build) and runs the main job.
# For now the main job is the flooding demo on 1,000 simulated hosts (issue 2); it will
# become the default bootstrap scenario with its results database and report.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
exec "$root/build/tidepool" demo sim --hosts 1000 --seed 1
