"""A real MQTT v5 consumer (paho-mqtt) for the MQTTBridge tests.

Subscribes to the given topics, writes one JSON line per message received (topic,
payload length and SHA-256, the payload in hex when small, QoS, retain, MQTT v5 user
properties, content type, correlation data, message expiry interval, the time it arrived)
and exits after --count messages or --timeout seconds. Writes the --ready file once the broker acknowledged the subscription.
With --persistent the session survives a disconnect (clean_start False, session expiry),
and paho reconnects by itself, so a broker restart loses nothing queued for it.
"""
import argparse
import hashlib
import json
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--topic", action="append", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--ready", required=True)
parser.add_argument("--count", type=int, default=1)
parser.add_argument("--timeout", type=float, default=60)
parser.add_argument("--client-id", default="")
parser.add_argument("--persistent", action="store_true")
parser.add_argument("--username")
parser.add_argument("--password")
parser.add_argument("--ca")
parser.add_argument("--cert")
parser.add_argument("--key")
args = parser.parse_args()

done = threading.Event()
lock = threading.Lock()
received = 0
out = open(args.out, "a", buffering=1)


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code.is_failure:
        print(f"connect refused: {reason_code}", file=sys.stderr)
        return
    if args.persistent and flags.session_present:
        open(args.ready, "w").close()
        return
    client.subscribe([(t, 1) for t in args.topic])


def on_subscribe(client, userdata, mid, reason_codes, properties):
    for rc in reason_codes:
        if rc.is_failure:
            print(f"subscribe refused: {rc}", file=sys.stderr)
    open(args.ready, "w").close()


def on_message(client, userdata, msg):
    global received
    props = msg.properties
    user = [list(p) for p in getattr(props, "UserProperty", [])] if props else []
    content_type = getattr(props, "ContentType", None) if props else None
    correlation = getattr(props, "CorrelationData", None) if props else None
    expiry = getattr(props, "MessageExpiryInterval", None) if props else None
    record = {
        "received_at": time.time(),
        "message_expiry": expiry,
        "topic": msg.topic,
        "length": len(msg.payload),
        "sha256": hashlib.sha256(msg.payload).hexdigest(),
        "payload_hex": msg.payload.hex() if len(msg.payload) <= 4096 else None,
        "qos": msg.qos,
        "retain": bool(msg.retain),
        "user_properties": user,
        "content_type": content_type,
        "correlation_data_hex": correlation.hex() if correlation is not None else None,
    }
    with lock:
        out.write(json.dumps(record) + "\n")
        received += 1
        if received >= args.count:
            done.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.reconnect_delay_set(min_delay=1, max_delay=1)
if args.username:
    client.username_pw_set(args.username, args.password)
if args.ca:
    client.tls_set(ca_certs=args.ca, certfile=args.cert, keyfile=args.key, cert_reqs=ssl.CERT_REQUIRED)
properties = None
if args.persistent:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 600
client.connect(args.host, args.port, keepalive=10, clean_start=not args.persistent, properties=properties)
client.loop_start()
finished = done.wait(args.timeout)
client.disconnect()
client.loop_stop()
out.close()
sys.exit(0 if finished else 3)
