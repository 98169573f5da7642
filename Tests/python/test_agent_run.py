"""`acoustic-edge run` as its users meet it: a real mosquitto broker on a free loopback port,
the agent replaying a recording as if captured live, and a real ML subscriber (paho-mqtt,
MQTT v5) that loads every tensor with torch.load.

The binary: $AE_BIN, or .build/release/acoustic-edge (scripts/test.sh builds it first)."""
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import torch
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def agent_binary():
    path = Path(os.environ.get("AE_BIN") or ROOT / ".build/release/acoustic-edge")
    if not path.exists():
        pytest.fail(f"no acoustic-edge binary at {path}: run `swift build -c release` or set AE_BIN")
    return path


@pytest.fixture
def broker(tmp_path):
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    + ("user root\n" if os.geteuid() == 0 else ""))
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


class Broker:
    """A private mosquitto on a free loopback port that can be stopped (SIGTERM: it saves its
    persistence) and started again on the same port."""

    def __init__(self, folder, persistence=False):
        self.port = free_port()
        self.conf = folder / "mosquitto-restartable.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence {str(persistence).lower()}\n"
                             f"persistence_location {folder}/\nautosave_interval 1\n"
                             + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("mosquitto did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Subscriber:
    """A paho-mqtt v5 client that records every message under the prefix. With `client_id`
    the session is persistent (clean_start False, session expiry), and paho reconnects by
    itself, so a broker restart loses nothing queued for it."""

    def __init__(self, port, topics, client_id="", persistent=False):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        properties = None
        if persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", port, clean_start=not persistent, properties=properties)
        self.client.loop_start()
        self.client.subscribe([(t, 1) for t in topics])
        assert subscribed.wait(10)

    def on_message(self, client, userdata, msg):
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        with self.lock:
            self.messages.append({"topic": msg.topic, "payload": bytes(msg.payload), "retain": msg.retain,
                                  "props": props, "content_type": getattr(msg.properties, "ContentType", None),
                                  "at": time.time()})

    def tensors(self):
        with self.lock:
            return [m for m in self.messages if "/mic" in m["topic"]]

    def on(self, topic):
        with self.lock:
            return [m for m in self.messages if m["topic"] == topic]

    def wait_for(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}")

    def command(self, port, payload):
        props = Properties(PacketTypes.PUBLISH)
        self.client.publish("plant/cmd", json.dumps(payload), qos=1, properties=props).wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_run_publishes_mirrors_obeys_and_goes_offline(tmp_path, broker, agent_binary):
    subprocess.run([PYTHON, ROOT / "Tests/reference/pipeline_inputs.py", tmp_path, "--seconds", "6.5", "--channels", "2"],
                   check=True)
    out = tmp_path / "out"
    metrics_port = free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
capture:
  source: file
  file: {tmp_path / 'recording.wav'}
  segment_seconds: 2
denoise:
  noise_profile: {tmp_path / 'noise.pt'}
output:
  dir: {out}
mqtt:
  port: {broker}
  client_id: test-agent
  spool:
    dir: {tmp_path / 'spool'}
metrics:
  port: {metrics_port}
  address: 127.0.0.1
""")
    sub = Subscriber(broker, ["plant/#"])
    # systemd's side of Type=notify: a datagram socket named by NOTIFY_SOCKET, a watchdog of 2 s.
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.2)
    notes = []

    def listen():
        while not stop_listening.is_set():
            try:
                notes.append(notify.recv(4096).decode())
            except socket.timeout:
                pass

    stop_listening = threading.Event()
    listener = threading.Thread(target=listen)
    listener.start()
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="2000000")
    agent = subprocess.Popen([agent_binary, "run", "--config", config], stderr=subprocess.PIPE, text=True, env=env)
    try:
        # 6.5 s of audio: three whole 2-s segments of 2 microphones, one source ("mix").
        sub.wait_for(lambda: len(sub.tensors()) >= 6 and len(list(out.glob("*/segment.json"))) >= 3, 90,
                     "6 tensors and 3 mirror folders")
        tensors = sub.tensors()
        assert sorted(m["topic"] for m in tensors) == ["plant/mic0/mix"] * 3 + ["plant/mic1/mix"] * 3
        folders = sorted(p.parent for p in out.glob("*/segment.json"))
        by_index = {json.loads((f / "segment.json").read_text())["segment_index"]: f for f in folders}
        assert sorted(by_index) == [0, 1, 2]
        for m in tensors:
            p = m["props"]
            assert set(p) >= {"mic", "source", "segment_start", "segment_index", "sample_rate", "model"}
            assert m["content_type"] == "application/x-pytorch"
            assert not m["retain"]
            t = torch.load(io.BytesIO(m["payload"]), weights_only=True)
            assert t.dtype == torch.float32 and tuple(t.shape) == (1, 240, 240)
            folder = by_index[int(p["segment_index"])]
            record = json.loads((folder / "segment.json").read_text())
            assert p["segment_start"] == record["start"] and p["sample_rate"] == "16000"
            # Every tensor published equals its disk-mirror file bit for bit.
            assert m["payload"] == (folder / f"mic_{p['mic']}" / "mix.pt").read_bytes()
        assert [json.loads((by_index[i] / "segment.json").read_text())["first_sample"] for i in range(3)] == [0, 32000, 64000]

        status = sub.on("plant/status")
        assert status and json.loads(status[-1]["payload"])["state"] in ("running", "stopped")

        # Commands: status, a refused one (state unchanged), stop, start.
        sub.command(broker, {"command": "status", "id": "q1"})
        sub.command(broker, {"command": "fly", "id": "q2"})
        sub.command(broker, {"command": "stop", "id": "q3"})
        sub.wait_for(lambda: len(sub.on("plant/cmd/response")) >= 3, 20, "three replies")
        replies = {json.loads(m["payload"])["id"]: json.loads(m["payload"]) for m in sub.on("plant/cmd/response")}
        assert replies["q1"]["ok"] is True
        assert replies["q2"]["ok"] is False and "unknown command" in replies["q2"]["error"]
        assert replies["q3"]["ok"] is True
        sub.wait_for(lambda: json.loads(sub.on("plant/status")[-1]["payload"]).get("state") == "stopped", 10,
                     "status stopped")
        sub.command(broker, {"command": "start", "id": "q4"})
        sub.wait_for(lambda: any(json.loads(m["payload"]).get("id") == "q4" for m in sub.on("plant/cmd/response")), 20,
                     "start reply")
        q4 = [json.loads(m["payload"]) for m in sub.on("plant/cmd/response") if json.loads(m["payload"]).get("id") == "q4"]
        assert q4[0]["ok"] is True, q4

        # Prometheus text on metrics.port, scraped by a real HTTP client.
        import urllib.request
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        segments = [line for line in metrics.splitlines() if line.startswith("acoustic_edge_segments_total ")]
        assert segments and float(segments[0].split()[1]) >= 3, metrics
        assert 'acoustic_edge_stage_seconds_count{stage="separate"}' in metrics, metrics

        # reload: a bad file is refused and the running configuration kept; a good one applies.
        good = config.read_text()
        config.write_text(good + "mel:\n  n_mels: 0\n")
        sub.command(broker, {"command": "reload", "id": "r1"})
        sub.wait_for(lambda: any(json.loads(m["payload"]).get("id") == "r1" for m in sub.on("plant/cmd/response")), 20, "reload reply")
        r1 = [json.loads(m["payload"]) for m in sub.on("plant/cmd/response") if json.loads(m["payload"]).get("id") == "r1"][0]
        assert r1["ok"] is False and "mel.n_mels" in r1["error"], r1
        config.write_text(good)
        sub.command(broker, {"command": "reload", "id": "r2"})
        sub.wait_for(lambda: any(json.loads(m["payload"]).get("id") == "r2" for m in sub.on("plant/cmd/response")), 20, "reload reply")
        r2 = [json.loads(m["payload"]) for m in sub.on("plant/cmd/response") if json.loads(m["payload"]).get("id") == "r2"][0]
        assert r2["ok"] is True, r2

        # calibrate: records 1 s of the capture, writes the profile, switches denoise to it.
        sub.command(broker, {"command": "calibrate", "seconds": 1, "id": "c1"})
        sub.wait_for(lambda: any(json.loads(m["payload"]).get("id") == "c1" for m in sub.on("plant/cmd/response")), 30,
                     "calibrate reply")
        c1 = [json.loads(m["payload"]) for m in sub.on("plant/cmd/response") if json.loads(m["payload"]).get("id") == "c1"][0]
        assert c1["ok"] is True, c1
        profile = torch.load(c1["noise_profile"], weights_only=True)
        assert tuple(profile.shape) == (2, 16000), profile.shape
    finally:
        stderr = stop_agent(agent)
    stop_listening.set()
    listener.join()
    notify.close()
    assert any(n.startswith("READY=1") for n in notes), notes
    assert "WATCHDOG=1" in notes, notes
    assert "STOPPING=1" in notes, notes
    # A clean stop leaves the retained status offline.
    sub.wait_for(lambda: json.loads(sub.on("plant/status")[-1]["payload"]).get("state") == "offline", 10,
                 "offline status")
    sub.close()
    assert "shutting down" in stderr


@pytest.mark.parametrize("yaml, key", [
    ("capture:\n  sample_rte: 16000\n", "capture.sample_rte"),
    ("mqtt:\n  spool:\n    drain_rate: -1\n", "mqtt.spool.drain_rate"),
    ("mqtt:\n  payload_dtype: int8\n", "mqtt.payload_dtype"),
])
def test_run_refuses_a_bad_config_on_one_line(tmp_path, agent_binary, yaml, key):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml)
    r = subprocess.run([agent_binary, "run", "--config", config], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and key in r.stderr, r.stderr


def replay_config(tmp_path, port, extra=""):
    """An agent replaying a 3-s recording of one microphone in 1-s segments, looping."""
    subprocess.run([PYTHON, ROOT / "Tests/reference/pipeline_inputs.py", tmp_path, "--seconds", "3", "--channels", "1"],
                   check=True)
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
capture:
  source: file
  file: {tmp_path / 'recording.wav'}
  segment_seconds: 1
  loop: true
denoise:
  enabled: false
output:
  dir: {tmp_path / 'out'}
mqtt:
  port: {port}
  client_id: test-agent-{port}
  spool:
    dir: {tmp_path / 'spool'}
{extra}""")
    return config


def stop_agent(agent):
    agent.send_signal(signal.SIGTERM)
    try:
        _, stderr = agent.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        agent.kill()
        _, stderr = agent.communicate()
        pytest.fail("agent did not stop within 60 s of SIGTERM")
    assert agent.returncode == 0, stderr
    return stderr


def mirror_segments(root):
    out = {}
    for record in root.glob("*/segment.json"):
        out[json.loads(record.read_text())["segment_index"]] = record.parent
    return out


def test_a_flood_of_1000_commands_is_answered_once_each_and_the_state_is_the_last_one(tmp_path, broker, agent_binary):
    """Issue 22, item 2: 1,000 valid start/stop/status commands at full speed (paho-mqtt, QoS 1):
    every id answered exactly once (carried out, or "busy"), and the capture ends in the
    state of the last start/stop sent."""
    config = replay_config(tmp_path, broker, "  qos: 1\n")
    sub = Subscriber(broker, ["plant/status"])
    agent = subprocess.Popen([agent_binary, "run", "--config", config], stderr=subprocess.PIPE, text=True)
    try:
        sub.wait_for(lambda: any(json.loads(m["payload"]).get("state") == "running" for m in sub.on("plant/status")), 30,
                     "the agent running")
        for last in ("stop", "start"):
            r = subprocess.run([PYTHON, ROOT / "Tests/reference/mqtt_command_flood.py", "--port", str(broker),
                                "--count", "1000", "--seed", "22", "--last", last, "--timeout", "120"],
                               capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stderr
            result = json.loads(r.stdout)
            print(f"flood (last {last}): {result}")
            assert result["answered"] == 1000 and result["duplicates"] == 0, result
            assert result["busy"] + result["ok"] == 1000, result
            # The state now: a status command after the flood.
            check = f"final-{last}"
            sub.client.subscribe("plant/cmd/response", qos=1)
            sub.command(broker, {"command": "status", "id": check})
            sub.wait_for(lambda: any(json.loads(m["payload"]).get("id") == check for m in sub.on("plant/cmd/response")),
                         20, "the status reply")
            reply = [json.loads(m["payload"]) for m in sub.on("plant/cmd/response") if json.loads(m["payload"]).get("id") == check][0]
            assert reply["state"] == ("running" if last == "start" else "stopped"), reply
    finally:
        stderr = stop_agent(agent)
    sub.close()
    assert "command received" in stderr


def test_outage_meta_first_replayed_safetensors_float16_and_birth_seq(tmp_path, agent_binary):
    """Issue 18 (1, 4, 6) end to end: the retained birth on plant/meta comes before the first
    tensor; `mqtt.payload: safetensors` with `payload_dtype: float16` loads with the
    safetensors library as float16, equal to the float32 mirror rounded by torch's half();
    a broker outage loses nothing, and the tensors that waited carry `replayed: true` (user
    property and safetensors metadata) with their original segment_start; a new start of the
    agent publishes a higher birth_seq."""
    from safetensors import safe_open
    from safetensors.torch import load as load_safetensors

    broker = Broker(tmp_path, persistence=True)
    config = replay_config(tmp_path, broker.port, "  payload: safetensors\n  payload_dtype: float16\n")
    sub = Subscriber(broker.port, ["plant/#"], client_id="ml-outage", persistent=True)
    agent = subprocess.Popen([agent_binary, "run", "--config", config], stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    try:
        sub.wait_for(lambda: len(sub.tensors()) >= 2, 60, "live tensors")
        broker.stop()
        before = len(mirror_segments(out))
        deadline = time.time() + 60
        while len(mirror_segments(out)) < before + 3 and time.time() < deadline:   # segments made during the outage
            time.sleep(0.1)
        outage_end = time.time()
        broker.start()
        sub.wait_for(lambda: {int(m["props"]["segment_index"]) for m in sub.tensors()} >= set(range(before + 3)), 60,
                     "every segment of the mirror, through the outage")
        stderr = stop_agent(agent)
        agent = None
        segments = mirror_segments(out)
        messages = list(sub.messages)
        tensors = [m for m in messages if "/mic" in m["topic"]]
        first_arrival = {}
        for m in tensors:
            first_arrival.setdefault(int(m["props"]["segment_index"]), m)
        assert set(segments) <= set(first_arrival), (sorted(segments), sorted(first_arrival))   # nothing lost
        replayed = [m for m in tensors if m["props"].get("replayed") == "true"]
        assert replayed, "tensors made during the outage went out replayed"
        for m in tensors:
            index = int(m["props"]["segment_index"])
            record = json.loads((segments[index] / "segment.json").read_text())
            assert m["props"]["segment_start"] == record["start"], "the original segment start"
            assert m["content_type"] == "application/x-safetensors"
            got = load_safetensors(m["payload"])["tensor"]
            assert got.dtype == torch.float16 and tuple(got.shape) == (1, 240, 240)
            mirror = torch.load(segments[index] / "mic_0" / "mix.pt", weights_only=True)
            assert mirror.dtype == torch.float32, "the mirror stays float32"
            assert torch.equal(got.view(torch.int16), mirror.half().view(torch.int16)), f"segment {index}: torch's half()"
            path = tmp_path / "payload.safetensors"
            path.write_bytes(m["payload"])
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata()
            assert metadata["segment_index"] == str(index) and metadata["mic"] == "0"
            assert metadata.get("replayed") == m["props"].get("replayed"), (metadata, m["props"])
        # The birth: first on plant/meta, before any tensor; again after the outage, before
        # the first replayed tensor.
        order = [m["topic"] if "/mic" not in m["topic"] else ("replayed" if m["props"].get("replayed") else "live")
                 for m in messages if m["topic"] in ("plant/meta",) or "/mic" in m["topic"]]
        assert order[0] == "plant/meta", order[:5]
        assert "plant/meta" in order[order.index("live"):order.index("replayed")], order
        metas = [json.loads(m["payload"]) for m in messages if m["topic"] == "plant/meta"]
        meta = metas[-1]
        assert meta["dtype"] == "float16" and meta["payload"] == "safetensors" and meta["shape"] == [1, 240, 240]
        assert meta["sources"] == ["mix"] and meta["sample_rate"] == 16000 and meta["segment_seconds"] == 1
        assert meta["microphones"] == [{"index": 0, "name": "mic0", "channel": 0, "topic": "plant/mic0"}]
        assert meta["model"] is None and meta["mel"]["n_mels"] == 240 and meta["mel"]["hop"] == 16000 // 239
        first_seq = meta["birth_seq"]
        live_after = [m["at"] - outage_end for m in tensors if not m["props"].get("replayed") and m["at"] > outage_end]
        print(f"outage with the agent: {len(replayed)} replayed tensors, {len(tensors)} in all, "
              f"{len(metas)} births, first live after the outage {min(live_after or [0]):.2f} s after the restart")

        # A new start: the retained birth now says birth_seq + 1.
        agent = subprocess.Popen([agent_binary, "run", "--config", config], stderr=subprocess.PIPE, text=True)
        late = Subscriber(broker.port, ["plant/meta"])
        late.wait_for(lambda: any(json.loads(m["payload"])["birth_seq"] == first_seq + 1 for m in late.on("plant/meta")),
                      30, "the next birth_seq")
        late.close()
    finally:
        if agent is not None:
            stop_agent(agent)
        sub.close()
        broker.stop()


def test_float16_pt_payload_is_the_float32_mirror_rounded_by_torch(tmp_path, broker, agent_binary):
    """`mqtt.payload_dtype: float16` with `.pt`: torch.load gives a float16 tensor (HalfStorage),
    bit for bit torch's own half() of the float32 mirror, in half the bytes."""
    config = replay_config(tmp_path, broker, "  payload_dtype: float16\n")
    sub = Subscriber(broker, ["plant/#"])
    agent = subprocess.Popen([agent_binary, "run", "--config", config], stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    try:
        sub.wait_for(lambda: len(sub.tensors()) >= 2 and len(mirror_segments(out)) >= 2, 60, "two tensors")
    finally:
        stop_agent(agent)
    segments = mirror_segments(out)
    for m in sub.tensors():
        index = int(m["props"]["segment_index"])
        if index not in segments:
            continue
        got = torch.load(io.BytesIO(m["payload"]), weights_only=True)
        mirror_file = segments[index] / "mic_0" / "mix.pt"
        mirror = torch.load(mirror_file, weights_only=True)
        assert got.dtype == torch.float16 and mirror.dtype == torch.float32
        assert torch.equal(got.view(torch.int16), mirror.half().view(torch.int16))
        assert len(m["payload"]) < 0.55 * mirror_file.stat().st_size
    meta = json.loads(sub.on("plant/meta")[-1]["payload"])
    assert meta["dtype"] == "float16" and meta["payload"] == "pt"
    sub.close()


def test_run_on_an_alsa_device_gives_the_tensors_process_gives(tmp_path, agent_binary):
    """`run` with capture.source alsa on ALSA's own `file` plugin (8 channels over a `null`
    slave, fed raw float32 from an infile: no hardware) writes the same tensors, bit for bit,
    as `process` of the same audio as a file (the same samples reach the stages; the tensors agree
    to float rounding, not bit for bit, because FFTW_MEASURE may pick another FFT algorithm in
    each process: docs/dsp.md).

    The device has no clock: it delivers as fast as it is read, so whole segments wait in the
    capture queue while the pipeline works. SIGTERM comes as soon as the first segment is
    mirrored: a graceful shutdown still processes every whole segment captured before it."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(11)
    frames = 3 * 32000 + 5000
    t = np.arange(frames) / 16000
    audio = np.stack([0.3 * np.sin(2 * np.pi * (200 + 50 * c) * t) + 0.02 * rng.standard_normal(frames)
                      for c in range(8)], axis=1).astype(np.float32)
    raw = tmp_path / "capture.raw"
    audio.astype("<f4").tofile(raw)
    sf.write(tmp_path / "same.wav", audio, 16000, subtype="FLOAT")
    bindings = " ".join(f"{c} {{ slave a channel {c} }}" for c in range(8))
    alsa_conf = tmp_path / "alsa.conf"
    alsa_conf.write_text(f"""
pcm.ae_m8 {{ type multi slaves.a {{ pcm {{ type null }} channels 8 }} bindings {{ {bindings} }} }}
pcm.ae_run_test {{ type file slave.pcm "ae_m8" file "/dev/null" infile "{raw}" format "raw" }}
""")
    common = "denoise:\n  stationary: false\nmqtt:\n  enabled: false\n"
    live = tmp_path / "live.yaml"
    live.write_text(f"capture:\n  source: alsa\n  device: ae_run_test\n  segment_seconds: 2\n  queue_depth: 8\n"
                    f"output:\n  dir: {tmp_path / 'live'}\n" + common)
    files = tmp_path / "files.yaml"
    files.write_text(f"capture:\n  segment_seconds: 2\noutput:\n  dir: {tmp_path / 'files'}\n" + common)
    env = dict(os.environ, ALSA_CONFIG_PATH=str(alsa_conf))
    agent = subprocess.Popen([agent_binary, "run", "--config", live], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((tmp_path / "live").glob("*/segment.json"))) < 1:
            if agent.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=60)
    assert agent.returncode == 0, stderr
    assert "ae_run_test: 8 ch, 16000 Hz, FLOAT_LE" in stderr, stderr
    r = subprocess.run([agent_binary, "process", "--config", files, tmp_path / "same.wav"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    def by_index(root):
        out = {}
        for record in root.glob("*/segment.json"):
            out[json.loads(record.read_text())["segment_index"]] = record.parent
        return out

    live_segments, file_segments = by_index(tmp_path / "live"), by_index(tmp_path / "files")
    assert sorted(file_segments) == [0, 1, 2]
    # Every whole segment waiting in the capture queue at SIGTERM was still processed.
    assert {0, 1, 2, 3} <= set(live_segments), sorted(live_segments)
    for index in range(3):
        live_record = json.loads((live_segments[index] / "segment.json").read_text())
        assert live_record["first_sample"] == index * 32000 and live_record["channels"] == 8
        for mic in range(8):
            ours = torch.load(live_segments[index] / f"mic_{mic}" / "mix.pt", weights_only=True)
            theirs = torch.load(file_segments[index] / f"mic_{mic}" / "mix.pt", weights_only=True)
            assert float((ours - theirs).abs().max()) <= 1e-3, f"segment {index} mic {mic}"
