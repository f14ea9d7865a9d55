#!/usr/bin/env bash
# Smoke run of every benchmark: `python benchmarks/X.py --quick` once each, so none can rot.
# A benchmark passes when it exits 0 and prints a Markdown table (a `|---` row) and the command
# that reproduces it, or (outside CI=true) one "skipped:" line naming what it lacks (upstream
# data, a server binary). Prints each one's wall time. Usage: benchmarks/smoke.sh [NAME ...]
set -uo pipefail
cd "$(dirname "$0")/.."
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for f in benchmarks/*.py; do names+=("$(basename "$f" .py)"); done
fi
failed=()
for name in "${names[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  python "benchmarks/$name.py" --quick >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [[ $rc -ne 0 ]]; then
    verdict="FAILED (exit $rc)"
  elif [[ ${CI:-} != true ]] && grep -q '^skipped:' "$log"; then
    verdict="skipped: $(grep -m1 '^skipped:' "$log" | cut -c10-)"
  elif ! grep -q '^|[-:|]*---' "$log"; then
    verdict="FAILED (no table)"
  elif ! grep -qiE '^(reproduce|command):? ' "$log"; then
    verdict="FAILED (no reproducing command)"
  elif grep -qiE '^\|.*\| *nan *\|' "$log"; then
    verdict="FAILED (nan in a table: a policy produced no scored rows)"
  else
    verdict="ok"
  fi
  printf '%-16s %4ss  %s\n' "$name" "$secs" "$verdict"
  if [[ $verdict == ok ]]; then
    grep -m3 '^|' "$log" | cut -c1-160 | sed 's/^/    /'  # the first table's head and first row
  fi
  if [[ $verdict == FAILED* ]]; then
    failed+=("$name")
    tail -n 30 "$log" | sed 's/^/    /'
  fi
  rm -f "$log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "benchmark smoke failed: ${failed[*]}" >&2
  exit 1
fi
