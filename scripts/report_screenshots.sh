#!/usr/bin/env bash
# scripts/report_screenshots.sh [BUILD_DIR] — regenerates reports/examples/run_page.png and
# campaign_page.png (shown in reports/README.md): a 60-node run of scenarios/bootstrap.lua
# and a 24-run campaign of sweeps/bootstrap_expected.lua (4 values x 6 seeds, 40 nodes),
# their pages drawn by `tidepool report`, photographed by headless Chromium (Debian
# package chromium; not installed by scripts/setup.sh: only this script needs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
command -v chromium >/dev/null || { echo "needs chromium: sudo apt-get install chromium" >&2; exit 1; }
tmp=$(mktemp -d /tmp/tp-shots.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
(cd "$root" && "$build/tidepool" sim scenarios/bootstrap.lua --set nodes=60 --set duration=30s \
  --db "$tmp/bootstrap.db" --quiet >/dev/null)
"$build/tidepool" report bootstrap.db --out run >/dev/null
(cd "$root" && "$build/tidepool" sweep sweeps/bootstrap_expected.lua --out "$tmp/sw" --seeds 6 \
  --set nodes=40 --set duration=20s --set blocks=1 --jobs 2 --quiet)
"$build/tidepool" report sw/campaign.db --out camp >/dev/null
shot() { # PAGE PNG
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,2400 \
    --screenshot="$2" "file://$tmp/$1" >/dev/null 2>&1
}
shot run/index.html "$root/reports/examples/run_page.png"
shot camp/campaign.html "$root/reports/examples/campaign_page.png"
echo "written: reports/examples/run_page.png reports/examples/campaign_page.png"
