#!/usr/bin/env bash
# Debian packages the tests need: shellcheck (lints tpu/*.sh) and Chromium (the browser tests drive
# Debian's /usr/bin/chromium through Playwright; no browser download). Installs what is missing when
# it can (root, or sudo without a password); otherwise says how, and those tests skip outside CI.
set -euo pipefail
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "note: install ${missing[*]} for the full test suite: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: no apt-get here; install ${missing[*]} with your package manager for the full test suite" >&2
    exit 0
fi
echo "installing ${missing[*]} (Debian packages) for the tests..."
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
