#!/usr/bin/env python3
"""Receive acoustic-edge tensors over MQTT and load them, as an ML consumer would.

    python examples/ml_subscriber.py --host 127.0.0.1 --port 1883            # plant/+/+
    python examples/ml_subscriber.py --prefix plant/line3/node7 --shared ml   # one of a group
    python examples/ml_subscriber.py --count 10 --save received/              # stop after 10, keep .npy

Every message on {prefix}/mic{i}/{source} is decoded by its MQTT v5 content type
(application/x-pytorch -> torch.load, application/x-safetensors -> safetensors,
application/x-npy -> numpy.load; sniffed from the bytes when the type is missing) and
printed as one line: topic, shape, dtype, segment index and start, and the mean value.
Other topics under the prefix that match +/+ (e.g. {prefix}/cmd/response) are skipped.
Needs paho-mqtt 2.x, numpy, and torch / safetensors for those formats.
"""
import argparse
import io
import os
import re
import ssl
import sys
import threading

import numpy as np
import paho.mqtt.client as mqtt


def load_tensor(payload, content_type):
    """Decode one payload into (format name, numpy array)."""
    kind = {
        "application/x-pytorch": "pt",
        "application/x-safetensors": "safetensors",
        "application/x-npy": "npy",
    }.get(content_type or "")
    if kind is None:  # no (or unknown) content type: look at the bytes
        if payload[:4] == b"PK\x03\x04":
            kind = "pt"  # torch.save writes a zip archive
        elif payload[:6] == b"\x93NUMPY":
            kind = "npy"
        else:
            kind = "safetensors"  # 8-byte little-endian header length, then JSON
    if kind == "pt":
        import torch
        tensor = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        return kind, tensor.numpy()
    if kind == "npy":
        return kind, np.load(io.BytesIO(payload), allow_pickle=False)
    from safetensors.numpy import load
    tensors = load(payload)
    return kind, next(iter(tensors.values()))  # the agent writes one tensor per message


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--prefix", default="plant", help="the agent's topic prefix")
    parser.add_argument("--shared", metavar="GROUP", help="join shared subscription $share/GROUP/...")
    parser.add_argument("--count", type=int, default=0, help="exit after this many tensors (0 = never)")
    parser.add_argument("--save", metavar="DIR", help="also write each tensor as DIR/<n>_<mic>_<source>.npy")
    parser.add_argument("--username")
    parser.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    parser.add_argument("--ca", help="CA file: connect with TLS")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    topic_filter = f"{args.prefix}/+/+"
    if args.shared:
        topic_filter = f"$share/{args.shared}/{topic_filter}"
    tensor_topic = re.compile(re.escape(args.prefix) + r"/mic(\d+)/([^/]+)$")
    collected = []  # (topic, properties, array): what an ML job would consume
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            print(f"connection refused: {reason_code}", file=sys.stderr)
            return
        client.subscribe(topic_filter, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        print(f"subscribed to {topic_filter}", flush=True)

    def on_message(client, userdata, msg):
        if not tensor_topic.match(msg.topic):
            return
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        content_type = getattr(msg.properties, "ContentType", None)
        try:
            kind, array = load_tensor(msg.payload, content_type)
        except Exception as error:  # a consumer must survive one bad message
            print(f"{msg.topic} undecodable ({len(msg.payload)} bytes): {error}", file=sys.stderr)
            return
        collected.append((msg.topic, props, array))
        print(f"{msg.topic} shape={tuple(array.shape)} dtype={array.dtype} format={kind} "
              f"segment={props.get('segment_index', '?')} start={props.get('segment_start', '?')} "
              f"mean={float(array.mean()):.6f}", flush=True)
        if args.save:
            os.makedirs(args.save, exist_ok=True)
            name = f"{len(collected):06d}_mic{props.get('mic', 'x')}_{props.get('source', 'x')}.npy"
            np.save(os.path.join(args.save, name), array)
        if args.count and len(collected) >= args.count:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    if args.username:
        client.username_pw_set(args.username, os.environ.get(args.password_env or "", None))
    if args.ca:
        client.tls_set(ca_certs=args.ca, certfile=args.cert, keyfile=args.key, cert_reqs=ssl.CERT_REQUIRED)
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
