# Local services for tests and benchmarks, sourced by scripts/test and scripts/bench-store.
# Installs what is missing into ./.venv, starts each service on a free loopback port,
# exports its address, and stops everything when the calling script exits.

services_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
services_logs="$services_root/target/test-services"
services_pids=()

stop_services() {
  for pid in "${services_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap stop_services EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_http() { # url name seconds
  local url=$1 name=$2 deadline=$((SECONDS + $3))
  until python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "error: $name did not answer at $url; its log follows" >&2
      cat "$services_logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.3
  done
}

# moto: a local S3 endpoint with faithful conditional writes (If-Match / If-None-Match).
start_moto() {
  local venv="$services_root/.venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto[server] into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
  fi
  mkdir -p "$services_logs"
  local port
  port=$(free_port)
  # Serialised: see scripts/moto_serial.py for why.
  "$venv/bin/python" "$services_root/scripts/moto_serial.py" 127.0.0.1 "$port" \
    >"$services_logs/moto.log" 2>&1 &
  services_pids+=($!)
  wait_for_http "http://127.0.0.1:$port/moto-api/" moto 60
  export AIOPS_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  echo "moto (local S3) on $AIOPS_TEST_S3_ENDPOINT" >&2
}

# The test Backstage backend (tests/backstage): catalog, auth with guest sign-in,
# scaffolder with the rca-analyze template, proxy. Node 20+; installs its npm packages on
# first use. Ready once the test entities and the template are ingested, which follows
# start-up by a few seconds. The static service token is fresh for every run.
# The proxy route `aiops` targets AIOPS_TEST_RCA_API_URL: a free loopback port picked
# here, on which the end-to-end tests start rca-api.
start_backstage() {
  local dir="$services_root/tests/backstage"
  if [ ! -d "$dir/node_modules" ]; then
    echo "installing the test Backstage backend into $dir/node_modules (about 4 minutes)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  mkdir -p "$services_logs"
  local port token rca_api_port
  port=$(free_port)
  rca_api_port=$(free_port)
  while [ "$rca_api_port" = "$port" ]; do rca_api_port=$(free_port); done
  token="aiops-test-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  (cd "$dir" && BACKSTAGE_PORT=$port BACKSTAGE_STATIC_TOKEN=$token \
    AIOPS_RCA_API_URL="http://127.0.0.1:$rca_api_port" exec node index.js) \
    >"$services_logs/backstage.log" 2>&1 &
  services_pids+=($!)
  local base="http://127.0.0.1:$port/api/catalog/entities/by-name"
  local deadline=$((SECONDS + 120))
  until python3 -c '
import sys, urllib.request
for url in sys.argv[2:]:
    urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer " + sys.argv[1]}), timeout=2)
' "$token" "$base/component/default/web" "$base/user/default/jane" "$base/template/default/rca-analyze" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "error: the test Backstage did not serve the test entities and the rca-analyze template at $base; its log follows" >&2
      cat "$services_logs/backstage.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  export AIOPS_TEST_BACKSTAGE_URL="http://127.0.0.1:$port"
  export AIOPS_TEST_BACKSTAGE_TOKEN="$token"
  export AIOPS_TEST_RCA_API_URL="http://127.0.0.1:$rca_api_port"
  echo "Backstage (catalog, auth, scaffolder, proxy) on $AIOPS_TEST_BACKSTAGE_URL; its proxy route aiops targets $AIOPS_TEST_RCA_API_URL" >&2
}
