#!/usr/bin/env bash
# Starts PostgreSQL and Redis when they are installed but not running. Tests that need a
# service that still cannot be reached are skipped with a loud reason, never silently.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 0.5; done
  port_open 5432 || echo "WARNING: PostgreSQL is not reachable; PostgreSQL tests will be SKIPPED"
fi

if ! port_open 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  for _ in $(seq 1 20); do port_open 6379 && break; sleep 0.5; done
  port_open 6379 || echo "WARNING: Redis is not reachable; Redis tests will be SKIPPED"
fi
exit 0
