#!/usr/bin/env bash
# `npm test`: installs and starts the real services (Redis, Docker engine, registry), typechecks,
# runs the suite on Node 20 (this machine's) and on Node 22, then the Kubernetes smoke suite on
# a real cluster in its own network namespace. Prints one closing line: "total: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash .ci/services.sh start || exit 1
eval "$(bash .ci/services.sh env | sed 's/^/export /')"

out=$(mktemp -d)
passed=0; failed=0; status=0
tally() { # tally REPORT.json: add a vitest JSON report's counts
  local counts
  # A file that failed with no failed test (its beforeAll threw, or it did not load) counts as one
  # failure: its tests are reported as skipped, and "0 failed" would hide it.
  counts=$(node -e 'const r=require(process.argv[1]);
    const broken=r.testResults.filter((f)=>f.status==="failed"&&!f.assertionResults.some((a)=>a.status==="failed")).length;
    console.log(r.numPassedTests, r.numFailedTests + broken)' "$1" 2>/dev/null) || { failed=$((failed + 1)); return; }
  passed=$((passed + ${counts% *})); failed=$((failed + ${counts#* }))
  # Name what failed again at the end: CI keeps only the tail of the output.
  node -e 'const r=require(process.argv[1]);
    for (const f of r.testResults) {
      const bad=f.assertionResults.filter((a)=>a.status==="failed");
      if (f.status==="failed"&&bad.length===0) console.log(`${process.argv[2]}: ${f.name}: ${(f.message||"did not run").split("\n")[0]}`);
      for (const a of bad) console.log(`${process.argv[2]}: ${f.name} > ${a.fullName}: ${(a.failureMessages[0]||"").split("\n")[0].slice(0,300)}`);
    }' "$1" "$2" >>"$out/failures.txt" 2>/dev/null || true
}

echo "== typecheck and module boundaries"
npm run --silent lint || { status=1; failed=$((failed + 1)); }

echo "== vitest on Node $(node --version)"
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/node20.json" || status=1
tally "$out/node20.json" "node $(node --version)"

if [ "${SLIPWAY_SKIP_NODE22:-}" != 1 ]; then
  echo "== vitest on Node 22"
  npx -y -p node@22 -- node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$out/node22.json" || status=1
  tally "$out/node22.json" "node 22"
fi

if [ -f .ci/k8s-testbed.sh ] && [ "${SLIPWAY_SKIP_K8S:-}" != 1 ]; then
  echo "== Kubernetes smoke suite (real cluster, .ci/k8s-testbed.sh)"
  SLIPWAY_K8S_REPORT="$out/k8s.json" bash .ci/k8s-testbed.sh test || status=1
  [ -f "$out/k8s.json" ] && tally "$out/k8s.json" k8s
fi

if [ -s "$out/failures.txt" ]; then echo "== failed"; cat "$out/failures.txt"; fi
rm -rf "$out"
echo "total: $passed passed, $failed failed"
exit $status
