#!/usr/bin/env bash
# Runs .ci/run N times in a row, each on a fresh clone of a commit (default: HEAD of this checkout), as
# CI does, and prints one line per run (exit code, wall time, tests passed/failed/skipped) and a summary.
# Flaky tests show up as a run that fails where others pass; each run's full log is kept.
#   scripts/ci-loop.sh [N=20] [REV=HEAD]
set -uo pipefail
n="${1:-20}"
rev="$(git -C "$(dirname "$0")/.." rev-parse "${2:-HEAD}")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d /tmp/modtune-ci-loop.XXXXXX)"
echo "== ${n} runs of .ci/run on ${rev:0:12}; logs in ${out}"
# The clone sits in ${out}; give it the ../shared (datasets, tokenizers) CI has beside its checkout, if
# this checkout has one, so that the tests which need it run rather than skip.
if [ -d "${repo}/../shared" ]; then ln -s "$(cd "${repo}/../shared" && pwd)" "${out}/shared"; fi
failed=0
for i in $(seq 1 "${n}"); do
  dir="${out}/clone"
  rm -rf "${dir}" && git clone -q "${repo}" "${dir}" && git -C "${dir}" checkout -q "${rev}"
  start=$(date +%s)
  (cd "${dir}" && ./.ci/run) > "${out}/run-${i}.log" 2>&1
  code=$?
  secs=$(( $(date +%s) - start ))
  counts="$(grep -E '^(#|ℹ) (pass|fail|skipped) ' "${out}/run-${i}.log" | awk '{printf "%s %s  ", $2, $3}')"
  printf 'run %2d: exit %d in %dm%02ds  %s\n' "${i}" "${code}" $((secs / 60)) $((secs % 60)) "${counts}"
  if [ "${code}" -ne 0 ]; then
    failed=$((failed + 1))
    grep -E '^not ok|^# Subtest|✖' "${out}/run-${i}.log" | grep -B1 -E '^not ok|✖' | head -20 | sed 's/^/        /'
  fi
done
echo "== ${failed} of ${n} runs failed"
[ "${failed}" -eq 0 ]
