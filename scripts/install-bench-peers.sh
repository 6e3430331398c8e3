#!/usr/bin/env bash
# Installs the benchmark peers (pgbouncer, pgpool-II, haproxy) from apt when missing.
# Failure is tolerated: `npm run bench` skips any peer it cannot find.
set -u

missing=()
command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
command -v pgpool >/dev/null 2>&1 || [ -x /usr/sbin/pgpool ] || missing+=(pgpool2)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)

if [ ${#missing[@]} -eq 0 ]; then
  echo "bench peers: all present"
  exit 0
fi

echo "bench peers: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bench peers: not root and no sudo; skipping install" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "bench peers: apt-get update failed" >&2
for pkg in "${missing[@]}"; do
  # Installed one by one so that one unavailable package does not block the others.
  $SUDO apt-get install -y -qq --no-install-recommends "$pkg" ||
    echo "bench peers: could not install $pkg; it will be skipped" >&2
done
# The Debian packages start system services; the bench runs its own instances.
for svc in pgbouncer pgpool2 haproxy; do
  $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
exit 0
