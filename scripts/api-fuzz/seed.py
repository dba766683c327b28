"""Seeds a fresh imgcloud with what the API fuzzer cannot invent, through the public API only.

    python3 seed.py API_URL TOKEN OUT_DIR

Uploads four small PNGs (one private) with the real protocol (create, presigned PUT, complete),
makes an album and three share links (plain, album, password), and starts one upload left
unfinished. Writes OUT_DIR/schemathesis.toml, which feeds those ids to the fuzzer, and
OUT_DIR/protected.txt, the ids the hooks keep away from DELETE (so the run does not destroy
its own fixtures, its token included). Standard library only.
"""
import hashlib
import json
import os
import struct
import sys
import urllib.request
import zlib


def png(width, height, seed):
    """A valid RGB PNG of noise (different bytes for every seed)."""
    rnd = seed * 2654435761 % 2**32
    rows = b""
    for _ in range(height):
        row = bytearray([0])
        for _ in range(width * 3):
            rnd = (rnd * 1103515245 + 12345) % 2**31
            row.append(rnd >> 23)
        rows += bytes(row)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Api:
    def __init__(self, base, token):
        self.base, self.token = base.rstrip("/"), token

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def upload(self, name, data, visibility=None, finish=True):
        body = {"filename": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "content_type": "image/png", "width": 64, "height": 48}
        if visibility:
            body["visibility"] = visibility
        answer = self.call("POST", "/v1/uploads", body, {"Idempotency-Key": "seed-" + name})
        request = answer["original"]["request"]
        put = urllib.request.Request(request["url"], data=data, method=request["method"])
        for header_name, value in request["headers"]:
            put.add_header(header_name, value)
        urllib.request.urlopen(put, timeout=30).read()
        if not finish:
            return answer["upload_id"]
        return self.call("POST", f"/v1/uploads/{answer['upload_id']}/complete", {"parts": []})


def main():
    base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
    api = Api(base, token)
    images = [api.upload(f"seed-{i}.png", png(64, 48, i + 1)) for i in range(3)]
    images.append(api.upload("private.png", png(64, 48, 9), visibility="private"))
    image_ids = [image["id"] for image in images]
    album = api.call("POST", "/v1/albums", {"name": "Seeded"})
    api.call("POST", f"/v1/albums/{album['id']}/add", {"image_ids": image_ids[:2]})
    shares = [
        api.call("POST", "/v1/shares", {"image_ids": image_ids[:1]}),
        api.call("POST", "/v1/shares", {"album_id": album["id"]}),
        api.call("POST", "/v1/shares", {"image_ids": image_ids[1:3], "password": "seeded-password"}),
    ]
    pending = api.upload("pending.png", png(64, 48, 11), finish=False)
    tokens = [share["url"].rstrip("/").rsplit("/", 1)[-1] for share in shares]
    me_tokens = [t["id"] for t in api.call("GET", "/v1/tokens")["tokens"]]

    def values(items):
        return json.dumps(items)

    with open(os.path.join(out, "schemathesis.toml"), "w") as f:
        f.write(f"""# Written by scripts/api-fuzz/seed.py: real ids the fuzzer would never guess.
[dictionaries.image_ids]
values = {values(image_ids)}
[dictionaries.album_ids]
values = {values([album["id"]])}
[dictionaries.share_ids]
values = {values([share["id"] for share in shares])}
[dictionaries.share_tokens]
values = {values(tokens)}
[dictionaries.upload_ids]
values = {values([pending])}
[dictionaries.files]
values = ["320.jpg", "1280.jpg", "original"]

[[operations]]
include-path-regex = "^/v1/images/\\\\{{id\\\\}}"
parameters = {{ "path.id" = {{ dictionary = "image_ids", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/v1/albums/\\\\{{id\\\\}}"
parameters = {{ "path.id" = {{ dictionary = "album_ids", probability = 0.5 }}, "body.image_ids[*]" = {{ dictionary = "image_ids", probability = 0.5 }} }}

[[operations]]
include-path = "/v1/shares/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "share_ids", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/v1/uploads/\\\\{{id\\\\}}"
parameters = {{ "path.id" = {{ dictionary = "upload_ids", probability = 0.5 }} }}

# oEmbed's own rule: a format other than json is answered 501 Not Implemented.
[[operations]]
include-path = "/oembed"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]

[[operations]]
include-path-regex = "^/s/"
parameters = {{ "path.token" = {{ dictionary = "share_tokens", probability = 0.7 }}, "path.image_id" = {{ dictionary = "image_ids", probability = 0.7 }}, "path.file" = {{ dictionary = "files", probability = 0.7 }} }}
""")
    protected = image_ids[:2] + [album["id"]] + [share["id"] for share in shares] + me_tokens
    with open(os.path.join(out, "protected.txt"), "w") as f:
        f.write(",".join(protected))
    print(f"seeded {len(image_ids)} images, 1 album, {len(shares)} share links, 1 open upload")


if __name__ == "__main__":
    main()
