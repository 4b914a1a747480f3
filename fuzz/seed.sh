#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the real-client captures in
# testdata/captures (or $RVP_CAPTURES_DIR). The corpora are generated, not
# committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
captures=${RVP_CAPTURES_DIR:-$here/../testdata/captures}
[ -d "$captures" ] || { echo "captures not found: $captures" >&2; exit 1; }
python3 "$here/seed.py" "$captures" "$here/corpus"
