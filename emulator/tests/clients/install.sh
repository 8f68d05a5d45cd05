#!/usr/bin/env bash
# Installs the pinned third-party clients the emulator's client tests run (the Salesforce CLI, jsforce and the
# Node.js 22 they need, all from npm) into DIR, default target/client-tools of the repository. Does nothing when
# DIR already holds exactly this package-lock.json's install. Needs `npm` on PATH (`make setup` installs it).
#
#   emulator/tests/clients/install.sh [DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dir="${1:-${SFSYNC_CLIENT_TOOLS:-$repo/target/client-tools}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$dir/.installed-lock-sha256"

installed() {
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        [ -x "$dir/node_modules/.bin/sf" ] && [ -x "$dir/node_modules/.bin/node" ] &&
        [ -f "$dir/node_modules/jsforce/package.json" ]
}

# One installer at a time per DIR (make and a test harness may both ask).
exec 9>"$dir/.install.lock"
flock 9

if installed; then
    echo "client tools: up to date in $dir"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "client tools: npm is not installed; run 'make setup' (it installs Debian's nodejs and npm)" >&2
    exit 1
fi
echo "client tools: installing the Salesforce CLI, jsforce and Node.js 22 into $dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
rm -f "$stamp"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
"$dir/node_modules/.bin/node" --version >/dev/null
echo "$want" >"$stamp"
echo "client tools: installed ($("$dir/node_modules/.bin/node" --version), sf $("$dir/node_modules/.bin/node" -p "require('$dir/node_modules/@salesforce/cli/package.json').version"))"
