"""A broken MQTT broker for the bridge's supervision tests.

    mqtt_fake_broker.py PORT SECONDS MODE OUT

Listens on 127.0.0.1:PORT for SECONDS and treats every client by MODE:
  silent   accept, read the CONNECT, never answer (no CONNACK);
  garbage  answer the CONNECT with bytes that are no MQTT packet, then keep the socket
           open: libmosquitto 2.0.11's loop thread returns for good on such a protocol
           error, so only a supervisor that makes a new client gets out of it;
  connack-garbage  accept the connection (MQTT v5 CONNACK, success), then 0.3 s later
           send garbage: the loop thread dies while the client is connected.
  takeover  accept the connection, then 0.3 s later send DISCONNECT with MQTT v5 reason
           0x8E "session taken over", as brokers that announce a takeover do (mosquitto
           2.0.11 itself only closes the socket).
Writes the number of connections it saw to OUT when the time is up.
"""
import socket
import sys
import threading
import time

port, seconds, mode, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
server.settimeout(0.1)
held = []
count = 0
deadline = time.time() + seconds
while time.time() < deadline:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        continue
    count += 1
    conn.settimeout(1)
    try:
        conn.recv(4096)  # the CONNECT
        if mode == "garbage":
            conn.sendall(b"\x00\x00\xff\xff\xff\xff\x7f")
        elif mode == "connack-garbage":
            conn.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK v5: no session, success, no properties
            time.sleep(0.3)
            conn.sendall(b"\x00\x00\xff\xff\xff\xff\x7f")
        elif mode == "takeover":
            conn.sendall(b"\x20\x03\x00\x00\x00")
            time.sleep(0.3)
            conn.sendall(b"\xe0\x02\x8e\x00")  # DISCONNECT v5: reason 0x8E, no properties
    except OSError:
        pass
    held.append(conn)
for conn in held:
    conn.close()
server.close()
with open(out, "w") as f:
    f.write(str(count))
