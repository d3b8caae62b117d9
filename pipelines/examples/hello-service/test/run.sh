#!/bin/sh
# The service's test: the page must greet, and the health file must say ok.
set -e
grep -q 'Hello from hello-service' www/index.html
[ "$(cat www/healthz)" = ok ]
echo "2 checks passed"
