"""Split capture logs into per-target seed files for the fuzz targets (see seed.sh)."""
import hashlib
import pathlib
import re
import sys

captures, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
HEADER = re.compile(rb"^===== \S+ (CLIENT->SERVER|SERVER->CLIENT) (.*) =====\n", re.M)
ROOTS = [b"propfind", b"propertyupdate", b"multistatus", b"notification", b"rvpacl", b"subscriptions"]


def put(target, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


count = 0
for log in sorted(captures.glob("*.wire.log")):
    raw = log.read_bytes()
    marks = list(HEADER.finditer(raw))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(raw)
        block = raw[m.end():end]
        if block.endswith(b"\n"):
            block = block[:-1]  # the log's own separator
        is_request = m.group(1) == b"CLIENT->SERVER" and not m.group(2).startswith(b"reply from")
        is_response = not is_request
        put("request" if is_request else "response", block)
        if is_request:
            put("engine_requests", block)
            # head_scan: the first byte picks the header slots (255: all 64).
            put("head_scan", b"\xff" + block)
        count += 1
        head, _, body = block.replace(b"\r\n", b"\n").partition(b"\n\n")
        start_line = head.split(b"\n")[0].split(b" ")
        for line in head.split(b"\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"call-back", b"rvp-from-principal", b"location"):
                put("node_url", value.strip())
            if is_request and name.strip().lower() == b"authorization" and len(start_line) > 1:
                # auth_header raw mode: even first byte, method \n target \n value.
                put("auth_header", b"\0" + start_line[0] + b"\n" + start_line[1] + b"\n" + value.strip())
        if head:
            target = head.split(b"\n")[0].split(b" ")
            if is_request and len(target) > 1:
                put("node_url", target[1] + b"\nlocalhost")
        _, _, body = block.partition(b"\r\n\r\n")
        root = re.search(rb"<(?:\w+:)?([\w-]+)[\s>]", body.split(b"?>", 1)[-1])
        if root and root.group(1) in ROOTS:
            put("xml_bodies", bytes([ROOTS.index(root.group(1))]) + body)
            # xml_fast: first byte even = default limits.
            put("xml_fast", b"\0" + body)
        for cdata in re.findall(rb"<!\[CDATA\[(.*?)\]\]>", body, re.S):
            put("payload", cdata)
# auth_header structured mode (odd first byte; see the target's docs): valid librvp-style
# answers for alice (HA1 zero byte at index 8), bob (HA1 only) and carol (zero at index 3),
# standard (response byte 0) and librvp's truncated form (2), for three methods. Byte by
# byte: mode, method, target, username, uri (kept), nc (00000001), cnonce (kept), response,
# nine parameter edits (7 = keep), no extra parameter, no trailing text, no delay.
for method in range(3):
    for user in (0, 4, 5):
        for response in (0, 2):
            put("auth_header", bytes([1, method, 0, user, 1, 2, 1, response] + [7] * 9 + [0, 0, 0]))
print(f"seeded from {count} capture blocks into {out}")
