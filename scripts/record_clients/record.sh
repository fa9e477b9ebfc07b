#!/usr/bin/env bash
# Re-record the real-client transcripts under tests/fixtures/clients/ (developer tool; needs npm, never run in CI).
#   scripts/record_clients/record.sh [claude|codex|gemini ...]      (default: all three)
# Scratch (npm install, venv, temp homes) lives in $SCRATCH (default /work/clients-npm), never in the repo.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SCRATCH="${SCRATCH:-/work/clients-npm}"
PORT="${PORT:-8765}"
RECORDED="${RECORDED:-$(date +%F)}"
FIX="$REPO/tests/fixtures/clients"
BIN="$SCRATCH/node_modules/.bin"
PY="$SCRATCH/venv/bin/python"
RUN="$SCRATCH/run"          # temp homes and work dirs, wiped per scenario

setup() {
  mkdir -p "$SCRATCH"
  if [ ! -x "$BIN/claude" ] || [ ! -x "$BIN/codex" ] || [ ! -x "$BIN/gemini" ]; then
    (cd "$SCRATCH" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install @anthropic-ai/claude-code @openai/codex @google/gemini-cli)
  fi
  if [ ! -x "$PY" ]; then
    python3 -m venv "$SCRATCH/venv" && "$PY" -m pip install -q starlette uvicorn websockets
  fi
}

version() { "$BIN/$1" --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1; }

# start_recorder CLIENT SCENARIO [extra recorder args]
start_recorder() {
  local client=$1 scenario=$2; shift 2
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "port $PORT is busy" >&2; exit 1; fi
  mkdir -p "$FIX/$client"
  "$PY" "$HERE/recorder.py" --port "$PORT" --out "$FIX/$client/$scenario.json" --client "$client" \
    --version "$VER" --scenario "$scenario" --recorded "$RECORDED" "$@" >"$RUN/recorder.log" 2>&1 &
  REC_PID=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1
  done
}
stop_recorder() { kill "$REC_PID" 2>/dev/null; wait "$REC_PID" 2>/dev/null; sed -n '/\[recorder\]/p' "$RUN/recorder.log"; }

fresh() {  # a clean temp HOME and work dir for one scenario
  rm -rf "$RUN"; mkdir -p "$RUN/home" "$RUN/work"
  printf 'notes for the recorder\n' >"$RUN/work/notes.txt"
}

# Common: no telemetry, no auto-update, nothing beyond loopback.
export DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1 DO_NOT_TRACK=1 NO_COLOR=1 CI=1

# ------------------------------------------------------------------ Claude Code
claude_run() {  # claude_run SCENARIO AUTHVAR PROMPT [claude args...]
  local scenario=$1 authvar=$2 prompt=$3; shift 3
  fresh; start_recorder claude-code "$scenario" --read-path "$RUN/work/notes.txt" --script "${SCRIPT:-$scenario}"
  echo "== claude-code/$scenario"
  (cd "$RUN/work" && env HOME="$RUN/home" ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT" \
      "$authvar=sk-ant-api03-recorder-fake-key" CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="${NONESSENTIAL_OFF-1}" \
      ${CLAUDE_ENV:-} timeout 180 "$BIN/claude" -p "$prompt" --output-format json "$@" </dev/null) \
    >"$RUN/client.out" 2>&1; echo "client rc=$?"; tail -c 600 "$RUN/client.out"; echo
  stop_recorder
}

record_claude() {
  VER=$(version claude)
  claude_run plain ANTHROPIC_API_KEY "Say hello"
  claude_run plain_bearer ANTHROPIC_AUTH_TOKEN "Say hello"
  claude_run tool_loop ANTHROPIC_API_KEY "Run echo hi in the shell" --allowedTools Bash
  claude_run read_file ANTHROPIC_API_KEY "Read notes.txt" --allowedTools Read
  CLAUDE_ENV="MAX_THINKING_TOKENS=8000" claude_run thinking ANTHROPIC_API_KEY "Think, then run echo hi" \
    --allowedTools Bash
  SCRIPT=thinking CLAUDE_ENV="MAX_THINKING_TOKENS=8000" claude_run thinking_sonnet_4_5 ANTHROPIC_API_KEY \
    "Think, then run echo hi" --allowedTools Bash --model claude-sonnet-4-5-20250929
  claude_run web_search ANTHROPIC_API_KEY "Search the web for asgi_rotator" --allowedTools WebSearch
  claude_run server_tool_replay ANTHROPIC_API_KEY "Search the web for asgi_rotator, then run echo hi" \
    --allowedTools Bash
  claude_run haiku_model ANTHROPIC_API_KEY "Say hello" --model haiku
  # Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: shows the side requests a default install makes.
  NONESSENTIAL_OFF= SCRIPT=tool_loop claude_run tool_loop_default_traffic ANTHROPIC_API_KEY "Run echo hi in the shell" \
    --allowedTools Bash
  SCRIPT=plain claude_run model_sonnet ANTHROPIC_API_KEY "Say hello" --model sonnet
}

# ------------------------------------------------------------------ Codex
codex_run() {  # codex_run SCENARIO MODEL WEBSOCKETS(true|false) PROMPT [codex exec args...]
  local scenario=$1 model=$2 ws=$3 prompt=$4; shift 4
  fresh; start_recorder codex "$scenario" --script "${SCRIPT:-$scenario}"
  echo "== codex/$scenario ($model, websockets=$ws)"
  cat >"$RUN/home/config.toml" <<TOML
model = "$model"
model_provider = "recorder"
check_for_update_on_startup = false
${CODEX_TOML:-}

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.recorder]
name = "recorder"
base_url = "http://127.0.0.1:$PORT/v1"
env_key = "RECORDER_API_KEY"
wire_api = "responses"
supports_websockets = $ws
request_max_retries = 0
stream_max_retries = 0
TOML
  (cd "$RUN/work" && env HOME="$RUN/home" CODEX_HOME="$RUN/home" RECORDER_API_KEY=sk-proj-recorder-fake-key \
      timeout 180 "$BIN/codex" exec --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox "$@" "$prompt" \
      </dev/null) >"$RUN/client.out" 2>&1; echo "client rc=$?"; tail -n 12 "$RUN/client.out"
  [ "$scenario" = apply_patch ] || [ "$scenario" = classic_apply_patch ] && { echo "-- hello.txt:"; cat "$RUN/work/hello.txt"; }
  stop_recorder
}

record_codex() {
  VER=$(version codex)
  # The default model (code mode: one JavaScript `exec` custom tool inside an `additional_tools` input item).
  local M=gpt-6.2-sol
  codex_run plain $M false "Say hello"
  codex_run tool_loop $M false "Run echo hi in the shell"
  codex_run thinking $M false "Think hard, then run echo hi" -c model_reasoning_effort=high \
    -c model_reasoning_summary=detailed
  CODEX_TOML='web_search = "live"' codex_run web_search $M false "Search the web for asgi_rotator, then run echo hi"
  codex_run apply_patch $M false "Create hello.txt with apply_patch"
  SCRIPT=tool_loop codex_run websocket_tool_loop $M true "Run echo hi in the shell"
  # A classic-tools model (top-level tools: exec_command function, apply_patch freeform custom tool, web_search).
  local C=gpt-5.5
  SCRIPT=plain codex_run classic_plain $C false "Say hello"
  SCRIPT=tool_loop codex_run classic_tool_loop $C false "Run echo hi in the shell"
  SCRIPT=thinking codex_run classic_thinking $C false "Think hard, then run echo hi" -c model_reasoning_effort=high \
    -c model_reasoning_summary=detailed
  SCRIPT=web_search CODEX_TOML='web_search = "live"' codex_run classic_web_search $C false \
    "Search the web for asgi_rotator, then run echo hi"
  SCRIPT=apply_patch codex_run classic_apply_patch $C false "Create hello.txt with apply_patch"
  SCRIPT=tool_loop codex_run classic_websocket_tool_loop $C true "Run echo hi in the shell"
}

# ------------------------------------------------------------------ Gemini CLI
gemini_run() {  # gemini_run SCENARIO PROMPT [gemini args...]
  local scenario=$1 prompt=$2; shift 2
  fresh; start_recorder gemini-cli "$scenario" --read-path "$RUN/work/notes.txt" --script "${SCRIPT:-$scenario}"
  echo "== gemini-cli/$scenario"
  mkdir -p "$RUN/home/.gemini"
  cat >"$RUN/home/.gemini/settings.json" <<JSON
{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true}${GEMINI_SETTINGS:-}
}
JSON
  (cd "$RUN/work" && env HOME="$RUN/home" GEMINI_API_KEY=AIzaSy-recorder-fake-key \
      GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$PORT" GEMINI_CLI_NO_RELAUNCH=true GEMINI_CLI_TRUST_WORKSPACE=true \
      timeout 180 "$BIN/gemini" -p "$prompt" --output-format json "$@" </dev/null) >"$RUN/client.out" 2>&1
  echo "client rc=$?"; tail -c 800 "$RUN/client.out"; echo
  stop_recorder
}

record_gemini() {
  VER=$(version gemini)
  gemini_run plain "Say hello"
  gemini_run tool_loop "Run echo hi in the shell" --approval-mode yolo
  gemini_run read_file "Read notes.txt" --approval-mode yolo
  gemini_run thinking "Think, then run echo hi" --approval-mode yolo
  GEMINI_SETTINGS=', "model": {"name": "gemini-2.5-pro"}' SCRIPT=thinking gemini_run thinking_2_5_pro \
    "Think, then run echo hi" --approval-mode yolo
  gemini_run web_search "Search the web for asgi_rotator" --approval-mode yolo
}

setup
mkdir -p "$RUN"
if [ "${1:-}" = run ]; then  # one scenario by hand: record.sh run codex_run tool_loop gpt-5.5 false "Run echo hi"
  shift; case "$1" in claude*) VER=$(version claude);; codex*) VER=$(version codex);; gemini*) VER=$(version gemini);; esac
  "$@"; exit
fi
for c in ${@:-claude codex gemini}; do "record_$c"; done
