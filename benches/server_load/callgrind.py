#!/usr/bin/env python3
"""Instructions per request of an rvp-server binary, counted by callgrind.

    python3 benches/server_load/callgrind.py <rvp-server binary> notify|proppatch

Starts the server under `valgrind --tool=callgrind --instr-atstart=no` with users alice
and bob, sends 200 warm-up requests on one keep-alive connection, switches
instrumentation on, sends 300 more, dumps, and prints the dump's total instructions
divided by 300 (the whole server, every thread). The count does not depend on the
machine's load, unlike requests per second.

    notify     NOTIFY alice -> bob (offline), SingleHop, an r:message from alice
    proppatch  PROPPATCH of alice's own state (online)

Environment:
    RVP_CG_DIGEST=1  require_auth = true, and every request carries a Digest answer for
                     alice (the nonce of the first 401, nc counting up), as the
                     identity part of the server_load bench sends them
    RVP_CG_LOG=1     the protocol log on (the server_load bench's default)
    RVP_CG_KEEP=1    keep the callgrind output (its path is printed) for
                     callgrind_annotate

Needs valgrind (callgrind_control) on the PATH. The server answers on 127.0.0.1 only.
"""
import glob
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

WARM_UP, MEASURED = 200, 300
ALICE = "http://localhost/instmsg/aliases/alice"


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("notify", "proppatch"):
        sys.exit(__doc__)
    binary, kind = sys.argv[1], sys.argv[2]
    digest = os.environ.get("RVP_CG_DIGEST") == "1"
    log = os.environ.get("RVP_CG_LOG") == "1"
    d = tempfile.mkdtemp(prefix="rvp-cg-")
    cfg = os.path.join(d, "server.toml")
    with open(cfg, "w") as f:
        f.write(
            f"""[server]
listen = ["127.0.0.1:0"]
storage = "{d}/state.redb"
[auth]
require_auth = {"true" if digest else "false"}
[log]
protocol_log = "{os.path.join(d, "protocol.log") if log else ""}"
filter = "error"
[[users]]
alias = "alice"
password = "alice-pw"
[[users]]
alias = "bob"
password = "bob-pw"
"""
        )
    out = os.path.join(d, "cg.out")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={out}", binary, "--config", cfg],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        addr = listening_address(server)
        client = Client(addr, kind, digest)
        statuses = [client.one() for _ in range(WARM_UP)]
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        statuses += [client.one() for _ in range(MEASURED)]
        subprocess.run(["callgrind_control", "-d", str(server.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        time.sleep(2)
    finally:
        server.kill()
        server.wait()
    total = 0
    for path in glob.glob(out + "*"):
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    break
    print(f"{kind} (Digest {'on' if digest else 'off'}, log {'on' if log else 'off'}): "
          f"statuses {sorted(set(statuses))}; "
          f"{total / MEASURED / 1000:.1f}k instructions per request")
    if os.environ.get("RVP_CG_KEEP") == "1":
        print(f"callgrind output: {out}.*")
    else:
        shutil.rmtree(d, ignore_errors=True)


def listening_address(server):
    """The address from the start-up banner (read for at most two minutes)."""
    deadline = time.time() + 120
    addr = None
    for line in server.stdout:
        m = re.search(r"listening on http://([0-9.]+:[0-9]+)", line)
        if m:
            addr = m.group(1)
        if line.startswith("State (") or time.time() > deadline:
            break
    if addr is None:
        sys.exit("the server did not say where it listens")
    host, port = addr.split(":")
    return host, int(port)


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


class Client:
    """One keep-alive connection; answers framed by Content-Length."""

    def __init__(self, addr, kind, digest):
        self.sock = socket.create_connection(addr)
        self.sock.settimeout(60)
        self.buf = b""
        self.kind, self.digest = kind, digest
        self.nonce, self.realm, self.nc = None, None, 0

    def authorization(self, method, uri):
        if not self.digest or self.nonce is None:
            return ""
        self.nc += 1
        nc, cnonce = f"{self.nc:08x}", "abcdef0123456789"
        ha1 = md5(f"alice:{self.realm}:alice-pw")
        response = md5(f"{ha1}:{self.nonce}:{nc}:{cnonce}:auth:{md5(f'{method}:{uri}')}")
        return (f'Authorization: Digest username="alice", realm="{self.realm}", '
                f'nonce="{self.nonce}", uri="{uri}", qop=auth, nc={nc}, '
                f'cnonce="{cnonce}", response="{response}"\r\n')

    def request(self):
        if self.kind == "notify":
            uri = "/instmsg/aliases/bob"
            body = (
                '<?xml version="1.0"?><r:notification xmlns:d="DAV:" '
                'xmlns:r="http://schemas.microsoft.com/rvp/"><r:message><r:notification-from>'
                f"<r:contact><d:href>{ALICE}</d:href></r:contact></r:notification-from>"
                "<r:msgbody><r:mime-data>Content-Type: text/plain\r\n\r\nhello bob"
                "</r:mime-data></r:msgbody></r:message></r:notification>"
            ).encode()
            head = (f"NOTIFY {uri} HTTP/1.1\r\nHost: localhost\r\n"
                    f"{self.authorization('NOTIFY', uri)}RVP-From-Principal: {ALICE}\r\n"
                    "RVP-Hop-Count: 1\r\nContent-Type: text/xml\r\n")
        else:
            uri = "/instmsg/aliases/alice"
            body = (
                '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" '
                'xmlns:r="http://schemas.microsoft.com/rvp/"><d:set><d:prop><r:state>'
                "<r:leased-value><r:value><r:online/></r:value><r:default-value><r:offline/>"
                "</r:default-value><d:timeout>1200</d:timeout></r:leased-value></r:state>"
                "</d:prop></d:set></d:propertyupdate>"
            ).encode()
            head = (f"PROPPATCH {uri} HTTP/1.1\r\nHost: localhost\r\n"
                    f"{self.authorization('PROPPATCH', uri)}RVP-From-Principal: {ALICE}\r\n"
                    "Content-Type: text/xml\r\n")
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    def one(self):
        """Sends one request and returns the answer's status (a 401 sets the nonce)."""
        self.sock.sendall(self.request())
        for _ in range(10_000):
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode("latin-1")
                m = re.search(r"(?i)content-length:\s*(\d+)", head)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    self.buf = self.buf[total:]
                    status = head.split(" ")[1]
                    if status == "401":
                        self.nonce = re.search(r'nonce="([^"]+)"', head).group(1)
                        self.realm = re.search(r'realm="([^"]+)"', head).group(1)
                        self.nc = 0
                    return status
            chunk = self.sock.recv(65536)
            if not chunk:
                sys.exit("the server closed the connection")
            self.buf += chunk
        sys.exit("no complete answer")


if __name__ == "__main__":
    main()
