#!/usr/bin/env bash
# Installs a pinned Terragrunt release after checking it against the release's SHA256SUMS.
# Usage: install-terragrunt.sh VERSION
set -euo pipefail
version="${1:?usage: install-terragrunt.sh VERSION}"
base="https://github.com/gruntwork-io/terragrunt/releases/download/v${version}"
archive="terragrunt_linux_amd64.tar.gz"
workdir="$(mktemp -d)"
cd "$workdir"
curl -fsSLO "$base/$archive"
curl -fsSLO "$base/SHA256SUMS"
grep " ${archive}\$" SHA256SUMS | sha256sum --check --strict -
tar -xzf "$archive"
sudo install -m 0755 terragrunt /usr/local/bin/terragrunt
terragrunt --version
