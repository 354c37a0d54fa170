#!/usr/bin/env bash
# A plain install works: `pip install .` (no extras) into a fresh venv, then every command's
# --help and a short run of each bench. The benches use SHARPEYES_DATABASE_URL and
# SHARPEYES_MQTT_URL when set, else they start the embedded servers.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin="$work/venv/bin"

# Install from a copy of the tree (tracked and unignored files), so no build/ lands here.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
python3 -m venv "$work/venv"
"$bin/pip" install --quiet "$work/src"
cd "$work"  # import only what was installed, never the checkout

# Every command path of the argparse tree ("" is `sharpeyes` itself), one per line.
"$bin/python" - >commands <<'EOF'
import argparse
from sharpeyes.cli import _parser

def walk(parser, path):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, [*path, name])

for path in walk(_parser(), []):
    print(" ".join(path))
EOF
while read -r command; do
    # shellcheck disable=SC2086  # the words of the command path
    "$bin/sharpeyes" $command --help >help.txt 2>&1 \
        || { echo "FAIL: sharpeyes $command --help" >&2; cat help.txt >&2; exit 1; }
done <commands
echo "ok   --help of all $(wc -l <commands) commands"

# A short run of each bench: it must finish and print its JSON result, and CHECK (Python,
# on the result `j`) must hold. A missed performance target (exit 1) is a measurement,
# not a failure of this smoke run.
benches=$(sed -n 's/^bench \(.*\)/\1/p' commands)
bench() {
    local check=$1 kind=$2 start=$SECONDS rc=0
    shift 2
    "$bin/sharpeyes" bench "$kind" "$@" --json >result.json 2>bench.log || rc=$?
    if [ "$rc" -gt 1 ] || ! "$bin/python" -c "import json, sys; j = json.load(open('result.json'))
sys.exit(not ($check))"; then
        echo "FAIL: sharpeyes bench $kind $* (exit $rc; check: $check)" >&2
        tail -30 bench.log result.json >&2
        exit 1
    fi
    echo "ok   sharpeyes bench $kind $* ($((SECONDS - start)) s, exit $rc)"
    benches=$(grep -vx "$kind" <<<"$benches" || true)
}
bench 'all(r["lost"] == r["duplicated"] == 0 for r in j["runs"])' \
    ingest --messages 2000 --publishers 1
bench 'j["missing_tasks"] == 0' alerts --zones 20 --probes 3
bench 'j["runs"]' api --clients 1 --seconds 1 --days 1
bench 'j' video --seconds 2
bench 'j' video-accuracy --quick
if [ -n "$benches" ]; then
    echo "FAIL: no short run here for: sharpeyes bench" $benches >&2
    exit 1
fi
