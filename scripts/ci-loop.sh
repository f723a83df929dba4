#!/usr/bin/env bash
# Runs the tests N times in a row on a fresh clone of a commit (default: HEAD of this checkout), and prints
# one line per run (exit code, wall time, tests passed/failed/skipped) and a summary. Flaky tests show up
# as a run that fails where others pass; each run's full log is kept.
#   scripts/ci-loop.sh [N=20] [REV=HEAD]          each run is .ci/run on a fresh clone (install, both Node versions)
#   scripts/ci-loop.sh --suite [N=10] [REV=HEAD]  one clone, installed once by .ci/run's own steps; each run is
#                                                 the README's test command (npm test) on this machine's Node,
#                                                 with TEST_DATABASE_URL as .ci/run sets it
set -uo pipefail
mode=ci
if [ "${1:-}" = "--suite" ]; then mode=suite; shift; fi
n="${1:-$([ "${mode}" = suite ] && echo 10 || echo 20)}"
rev="$(git -C "$(dirname "$0")/.." rev-parse "${2:-HEAD}")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d /tmp/modtune-ci-loop.XXXXXX)"
echo "== ${n} runs of $([ "${mode}" = suite ] && echo 'npm test' || echo '.ci/run') on ${rev:0:12}; logs in ${out}"
# The clone sits in ${out}; give it the ../shared (datasets, tokenizers) CI has beside its checkout, if
# this checkout has one, so that the tests which need it run rather than skip.
if [ -d "${repo}/../shared" ]; then ln -s "$(cd "${repo}/../shared" && pwd)" "${out}/shared"; fi
dir="${out}/clone"
fresh_clone() { rm -rf "${dir}" && git clone -q "${repo}" "${dir}" && git -C "${dir}" checkout -q "${rev}"; }

if [ "${mode}" = suite ]; then
  fresh_clone
  # .ci/run's install steps, without its test runs: npm ci, chromium, PostgreSQL and the test database.
  (cd "${dir}" && sed -e '/^npm run typecheck$/,$d' .ci/run > .ci/install-only && bash .ci/install-only) > "${out}/install.log" 2>&1 || {
    echo "install failed; see ${out}/install.log"
    exit 1
  }
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"; fi
fi

failed=0
total=0
for i in $(seq 1 "${n}"); do
  start=$(date +%s)
  if [ "${mode}" = suite ]; then
    (cd "${dir}" && ONNXRUNTIME_NODE_INSTALL=skip npm test) > "${out}/run-${i}.log" 2>&1
  else
    fresh_clone
    (cd "${dir}" && ./.ci/run) > "${out}/run-${i}.log" 2>&1
  fi
  code=$?
  secs=$(( $(date +%s) - start ))
  total=$((total + secs))
  counts="$(grep -E '^(#|ℹ) (pass|fail|skipped) ' "${out}/run-${i}.log" | awk '{printf "%s %s  ", $2, $3}')"
  printf 'run %2d: exit %d in %dm%02ds  %s\n' "${i}" "${code}" $((secs / 60)) $((secs % 60)) "${counts}"
  # .ci/run's steps, as it timed them ("== npm ci took 22 s (22 s in all)").
  steps="$(sed -nE 's/^== (.*) took ([0-9]+) s \(.*/\1 \2 s/p' "${out}/run-${i}.log" | paste -sd ';' | sed 's/;/; /g')"
  [ -n "${steps}" ] && echo "        ${steps}"
  if [ "${code}" -ne 0 ]; then
    failed=$((failed + 1))
    grep -E '^not ok|^# Subtest|✖' "${out}/run-${i}.log" | grep -B1 -E '^not ok|✖' | head -20 | sed 's/^/        /'
  fi
done
echo "== ${failed} of ${n} runs failed; mean wall time $((total / n / 60))m$(( (total / n) % 60 ))s"
[ "${failed}" -eq 0 ]
