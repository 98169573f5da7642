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


class Subscriber:
    """A paho-mqtt v5 client that records every message under the prefix."""

    def __init__(self, port, topics):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self.on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(t, 1) for t in topics])
        assert subscribed.wait(10)

    def on_message(self, client, userdata, msg):
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        with self.lock:
            self.messages.append({"topic": msg.topic, "payload": bytes(msg.payload), "retain": msg.retain,
                                  "props": props, "content_type": getattr(msg.properties, "ContentType", None)})

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
        agent.send_signal(signal.SIGTERM)
        try:
            _, stderr = agent.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()
            _, stderr = agent.communicate()
            pytest.fail("agent did not stop within 60 s of SIGTERM")
    assert agent.returncode == 0, stderr
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


def test_run_refuses_a_bad_config_on_one_line(tmp_path, agent_binary):
    config = tmp_path / "agent.yaml"
    config.write_text("capture:\n  sample_rte: 16000\n")
    r = subprocess.run([agent_binary, "run", "--config", config], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "capture.sample_rte" in r.stderr, r.stderr


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
