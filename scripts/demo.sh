#!/usr/bin/env bash
# The main job of `make run`: a real agent run with the scripted model. It copies the files of
# examples/tasks/fix-off-by-one.json into a fresh workspace, lets `m1 agent` fix the bug there
# (streamed transcript and summary line), then runs every example task with `m1 run`.
set -euo pipefail
m1="${1:-./build/m1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
workspace="$(mktemp -d /tmp/m1-demo-XXXXXX)"
trap 'rm -rf "$workspace"' EXIT

python3 - "$root/examples/tasks/fix-off-by-one.json" "$workspace" <<'PY'
import json, os, sys
task = json.load(open(sys.argv[1]))
for path, content in task["files"].items():
    target = os.path.join(sys.argv[2], path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    open(target, "w").write(content)
print("task:", task["prompt"])
PY
echo "workspace: $workspace"
echo
"$m1" agent "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"])' "$root/examples/tasks/fix-off-by-one.json")" \
  --model "script:$root/examples/tasks/solutions/fix-off-by-one.json" --workspace "$workspace"
echo
echo "checker: python3 test_sum.py -> $(cd "$workspace" && python3 test_sum.py)"
echo
"$m1" run "$root"/examples/tasks/*.json --parallel 2
