"""A command flood, as an operator's script or a fuzzer makes one: paho-mqtt (MQTT v5) publishes
--count valid commands (a seeded random mix of start, stop and status, each with its own id)
to {prefix}/cmd at QoS 1 as fast as the client can, then waits until every id got a reply on
{prefix}/cmd/response (or --timeout passes) and prints one JSON object:

  sent, answered (distinct ids replied to), duplicates (replies beyond the first per id),
  missing (ids never answered), busy (replies with "error": "busy"), ok, refused (other errors),
  last_capture (the last start/stop sent), seconds (from the first publish to the last reply),
  seed.

Used by MQTTBridgeTests.CommandFloodTests and Tests/python/test_agent_run.py.
"""
import argparse
import json
import random
import sys
import threading
import time

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--prefix", default="plant")
parser.add_argument("--count", type=int, default=1000)
parser.add_argument("--seed", type=int, default=22)
parser.add_argument("--timeout", type=float, default=120)
parser.add_argument("--last", choices=["start", "stop"], help="make the last command this one")
args = parser.parse_args()

rng = random.Random(args.seed)
commands = [rng.choice(["start", "stop", "status"]) for _ in range(args.count)]
if args.last:
    commands[-1] = args.last
ids = [f"flood-{i}" for i in range(args.count)]
replies = {}
lock = threading.Lock()
done = threading.Event()
subscribed = threading.Event()


def on_message(client, userdata, msg):
    try:
        reply = json.loads(msg.payload)
    except ValueError:
        return
    rid = reply.get("id") if isinstance(reply, dict) else None
    if rid is None or not str(rid).startswith("flood-"):
        return
    with lock:
        replies.setdefault(rid, []).append(reply)
        if len(replies) == args.count:
            done.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
client.max_inflight_messages_set(1000)
client.max_queued_messages_set(0)
client.on_message = on_message
client.on_subscribe = lambda *a: subscribed.set()
client.connect(args.host, args.port, keepalive=30)
client.loop_start()
client.subscribe(args.prefix + "/cmd/response", qos=1)
if not subscribed.wait(10):
    sys.exit("flood: no SUBACK")
started = time.time()
for cid, command in zip(ids, commands):
    client.publish(args.prefix + "/cmd", json.dumps({"command": command, "id": cid}), qos=1)
done.wait(args.timeout)
finished = time.time()
client.loop_stop()
client.disconnect()

with lock:
    answered = set(replies)
    flat = [r for rs in replies.values() for r in rs]
last_capture = next((c for c in reversed(commands) if c in ("start", "stop")), None)
print(json.dumps({
    "sent": args.count,
    "answered": len(answered),
    "duplicates": len(flat) - len(answered),
    "missing": [i for i in ids if i not in answered][:20],
    "busy": sum(1 for r in flat if r.get("error") == "busy"),
    "ok": sum(1 for r in flat if r.get("ok") is True),
    "refused": sum(1 for r in flat if r.get("ok") is False and r.get("error") != "busy"),
    "last_capture": last_capture,
    "last_capture_id": ids[max(i for i, c in enumerate(commands) if c in ("start", "stop"))],
    "seconds": round(finished - started, 3),
    "seed": args.seed,
}))
