#!/usr/bin/env bash
# Installs the coding agents that tests/agents drives, from the npm registry, into .agents/
# (ignored by git): one npm prefix per agent, pinned versions, reused while the pin is unchanged.
# An agent that cannot be installed (no npm, no network, registry error) does not stop `make test`:
# its reason goes to .agents/NAME.failed, and its test is skipped with that reason printed (under
# CI=true it fails instead). An unreachable registry is found once, in seconds, not per agent.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEST=.agents
TIMEOUT_S=${AGENTS_INSTALL_TIMEOUT_S:-300}
# name  npm package@version  (versions observed in ../shared/CLIENTS.md, 2026-11-30)
AGENTS=(
  "claude-code @anthropic-ai/claude-code@2.1.332"
  "codex @openai/codex@0.171.0"
  "cline cline@3.0.65"
)
mkdir -p "$DEST"
registry_down=""
registry_checked=""
for entry in "${AGENTS[@]}"; do
  read -r name spec <<<"$entry"
  prefix="$DEST/$name"
  if [ "$(cat "$prefix/.pinned" 2>/dev/null)" = "$spec" ]; then
    continue
  fi
  rm -rf "$prefix" "$DEST/$name.failed"
  if ! command -v npm >/dev/null; then
    echo "npm is not on PATH" >"$DEST/$name.failed"
    echo "agents: $name skipped: npm is not on PATH"
    continue
  fi
  if [ -z "$registry_checked" ]; then
    registry_checked=1
    timeout 20 npm ping --loglevel=error >/dev/null 2>&1 ||
      registry_down="the npm registry did not answer \`npm ping\` within 20 s"
  fi
  if [ -n "$registry_down" ]; then
    echo "$registry_down" >"$DEST/$name.failed"
    echo "agents: $name skipped: $registry_down"
    continue
  fi
  echo "agents: installing $spec into $prefix"
  if timeout "$TIMEOUT_S" npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "$spec" >"$DEST/$name.log" 2>&1; then
    echo "$spec" >"$prefix/.pinned"
  else
    { echo "npm install $spec failed (exit $?, limit ${TIMEOUT_S}s):"; tail -n 15 "$DEST/$name.log"; } \
      >"$DEST/$name.failed"
    rm -rf "$prefix"
    cat "$DEST/$name.failed"
  fi
done
exit 0
