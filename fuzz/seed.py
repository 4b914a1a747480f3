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
        count += 1
        head, _, body = block.replace(b"\r\n", b"\n").partition(b"\n\n")
        for line in head.split(b"\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"call-back", b"rvp-from-principal", b"location"):
                put("node_url", value.strip())
        if head:
            target = head.split(b"\n")[0].split(b" ")
            if is_request and len(target) > 1:
                put("node_url", target[1] + b"\nlocalhost")
        _, _, body = block.partition(b"\r\n\r\n")
        root = re.search(rb"<(?:\w+:)?([\w-]+)[\s>]", body.split(b"?>", 1)[-1])
        if root and root.group(1) in ROOTS:
            put("xml_bodies", bytes([ROOTS.index(root.group(1))]) + body)
        for cdata in re.findall(rb"<!\[CDATA\[(.*?)\]\]>", body, re.S):
            put("payload", cdata)
print(f"seeded from {count} capture blocks into {out}")
