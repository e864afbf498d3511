#!/usr/bin/env bash
# Installs the Debian packages that carry AI Prime's data sets, when any is missing.
# On a system without apt it says what to provide instead, and exits non-zero.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "error: missing data packages: ${missing[*]}. This system has no apt-get: install the Debian/Ubuntu" >&2
  echo "packages ${missing[*]} by other means, or point AIPRIME_WORDNET_DIR, AIPRIME_FOLDOC_DICT and" >&2
  echo "AIPRIME_PYTHON_DOCS_DIR at copies of WordNet 3.0, FOLDOC (dictd format) and the Python 3.11 docs." >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing data packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
