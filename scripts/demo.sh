#!/usr/bin/env bash
# The demo: the product whole, on this machine, with nothing but what the project installs.
#
#   1. sets everything up (scripts/setup.sh) and builds acoustic-edge (release);
#   2. makes a 4-microphone demo recording of synthetic machine sounds over site noise, and
#      the site's noise profile (torch.save'd, as the original prototype kept it);
#   3. starts a private mosquitto broker on a free loopback port;
#   4. starts the ML team's example subscriber (examples/ml_subscriber.py), which prints every
#      tensor that arrives: topic, shape, segment;
#   5. runs `acoustic-edge run` replaying the recording in real time, as if captured live,
#      with the demo model (models/demo-machines.safetensors) when it is there;
#   6. sends the agent a `status` command, stops everything it started, and shows the mirror.
#
# Everything lives under .demo/ (deleted at the start of each run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
swift build -c release --product acoustic-edge
bin="$(swift build -c release --show-bin-path)/acoustic-edge"
py="${AE_VENV:-$root/.venv}/bin/python"

demo="$root/.demo"
rm -rf "$demo"
mkdir -p "$demo/broker"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

seconds="${DEMO_SECONDS:-25}"
echo "== demo recording: ${seconds} s, 4 microphones, 16 kHz (synthetic fan, pump, slider, valve over site noise)"
"$py" scripts/make_demo_recording.py "$demo" --seconds "$seconds" --channels 4

model=""
for candidate in models/demo-machines.safetensors models/*.safetensors; do
    [ -f "$candidate" ] && { model="$root/$candidate"; break; }
done
[ -n "$model" ] && echo "== model: $model" || echo "== no model in models/: sources pass through as 'mix'"

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$demo/broker/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
CONF
# mosquitto started as root drops to its own user: run it as ourselves when root.
[ "$(id -u)" -eq 0 ] && echo "user root" >> "$demo/broker/mosquitto.conf"
mosquitto -c "$demo/broker/mosquitto.conf" > "$demo/broker/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do "$py" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break; sleep 0.1; done
echo "== broker: mosquitto on 127.0.0.1:$port"

cat > "$demo/acoustic-edge.yaml" <<CONF
capture:
  source: file
  file: $demo/recording.wav
  segment_seconds: 10
denoise:
  noise_profile: $demo/noise.pt
separator:
  model: ${model:-null}
output:
  dir: $demo/output
mqtt:
  port: $port
  topic_prefix: plant
  spool:
    dir: $demo/spool
CONF

echo "== subscriber: python examples/ml_subscriber.py --port $port"
"$py" -u examples/ml_subscriber.py --host 127.0.0.1 --port "$port" > "$demo/subscriber.log" 2>&1 &
subscriber=$!
pids+=($subscriber)
sleep 1
tail -f "$demo/subscriber.log" &
pids+=($!)

echo "== agent: acoustic-edge run --config $demo/acoustic-edge.yaml"
"$bin" run --config "$demo/acoustic-edge.yaml" 2> "$demo/agent.log" &
agent=$!
pids+=($agent)
segments=$(( seconds / 10 ))
# Wait for the replay (real time) plus processing of the last segment.
deadline=$(( SECONDS + seconds + 120 ))
while [ $SECONDS -lt $deadline ]; do
    done_count=$(find "$demo/output" -name segment.json 2>/dev/null | wc -l)
    [ "$done_count" -ge "$segments" ] && break
    kill -0 "$agent" 2>/dev/null || break
    sleep 1
done
sleep 2
echo "== status command"
mosquitto_pub -p "$port" -t plant/cmd -m '{"command": "status", "id": "demo"}'
mosquitto_sub -p "$port" -t plant/cmd/response -C 1 -W 5 || true
kill -TERM "$agent" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
sleep 1
echo "== retained status after shutdown:"
mosquitto_sub -p "$port" -t plant/status -C 1 -W 3 || true
echo "== disk mirror:"
find "$demo/output" -name '*.pt' | sort | head -20
echo "== agent log: $demo/agent.log; received tensors: $(grep -c 'plant/mic' "$demo/subscriber.log" || true)"
"$bin" inspect "$(find "$demo/output" -name '*.pt' | sort | head -1)"
