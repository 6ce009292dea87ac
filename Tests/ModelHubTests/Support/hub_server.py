"""A stand-in for the Hugging Face Hub, for ModelHubTests: the same URL layout and headers.

    python3 hub_server.py SPEC.json LOG.jsonl

SPEC: {"repos": {"org/name": {"sha": COMMIT, "private": false, "files": {NAME: LOCAL_PATH}}},
       "token": TOKEN, "cut": {"file": NAME, "after": BYTES, "times": N}, "tamper": NAME,
       "hold": {"file": NAME, "after": BYTES, "until": PATH},
       "stall": {"file": NAME, "after": BYTES, "times": N}, "drip": SECONDS, "endless": true,
       "extra": N, "folders": {NAME: LOCAL_DIR}, "fail": {"file": NAME, "times": N, "status": S, "skip": K},
       "redirect": {"file": NAME}, "slow": {"file": NAME, "from": OFFSET, "seconds": S},
       "shift": {"file": NAME, "from": OFFSET}, "bind": ADDRESS, "cdn_host": HOST}
Serves on "bind" (default 127.0.0.1), an ephemeral port printed as the first line of stdout,
and on a second ephemeral port (the "CDN host", reached as "cdn_host", default localhost)
printed as the second line:
- GET  /api/models/{repo}/revision/{rev}  -> {"sha", "siblings": [{"rfilename"}]}
- HEAD/GET /{repo}/resolve/{rev}/{file}   -> .safetensors files: 302 to http://localhost:CDN_PORT/cdn/{sha256}
  with X-Linked-Etag/X-Linked-Size (as LFS files); other files: 200 with a git-blob ETag
- GET  /files/{folder}/{file}             -> a plain folder's files, as a static HTTP server or a
  bucket serves them (404 for a file it lacks); the "redirect" file answers 302 to
  http://localhost:CDN_PORT/files/{folder}/{file}
- GET  /cdn/{sha256}                      -> the bytes. /cdn/ and /files/ honour
  "Range: bytes=A-B" and "bytes=A-" with 206 and Content-Range (416 when A is past the end);
  after the first "skip" (default 0), "times" requests for the "fail" file answer HTTP "status"
  (default 500). A range of the "slow" file that starts at or past "from" waits "seconds"
  before its body; one of the "shift" file that starts at or past "from" is answered with the
  bytes (and Content-Range) one byte further on: not the bytes asked for. The first
  "times" requests for the "cut" file stop after "after" bytes and close the connection; the
  "tamper" file is served with its last byte changed; the "hold" file's first "after" bytes
  are sent at once, the rest once a file exists at "until" (a client that is gone by then is
  no error); the first "times" requests for the "stall" file send "after" bytes from where they
  start, then nothing more (the connection stays open)
- Listing modes: "drip" sends the listing one byte every SECONDS; "endless" sends a listing
  that never ends (chunked, until the client goes); "extra" adds N top-level file names
  extra-NNNNNN.safetensors that the repository does not have (HEAD/GET on them: 404)
Errors as the Hub sends them: 404 with X-Error-Code RepoNotFound/RevisionNotFound/EntryNotFound,
401 for a private repository without "Authorization: Bearer TOKEN". Every request is appended
to LOG as a JSON line: method, path, range, authorization, the port it came in on and the
client's address; once a request is answered, a JSON line with its path, client and the body bytes
sent goes to LOG.sent. The server exits when its standard
input closes (the test is over, or its process died).
"""
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

spec = json.load(open(sys.argv[1]))
log_path = sys.argv[2]
lock = threading.Lock()
cuts_left = spec.get("cut", {}).get("times", 0)
stalls_left = spec.get("stall", {}).get("times", 0)
fails_left = spec.get("fail", {}).get("times", 0)
fails_skipped = spec.get("fail", {}).get("skip", 0)
blobs = {}  # sha256 -> (repo, file name, bytes)
for repo_id, repo in spec["repos"].items():
    repo["data"] = {name: open(path, "rb").read() for name, path in repo["files"].items()}
    for name, data in repo["data"].items():
        blobs[hashlib.sha256(data).hexdigest()] = (repo_id, name, data)


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def write(self, data):
        """The body bytes, counted for LOG.sent."""
        self.wfile.write(data)
        self.sent += len(data)

    def handle_one_request(self):
        self.sent, self.command = 0, None
        try:
            super().handle_one_request()
        finally:
            if self.command in ("GET", "HEAD"):
                entry = {"path": self.path, "client": self.client_address[0], "sent": self.sent}
                with lock, open(log_path + ".sent", "a") as log:
                    log.write(json.dumps(entry) + "\n")

    def record(self):
        entry = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                 "authorization": self.headers.get("Authorization"), "port": self.server.server_address[1],
                 "client": self.client_address[0]}
        with lock, open(log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def reply(self, status, headers=None, body=b"", send_body=True):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and self.command != "HEAD":
            self.write(body)

    def error(self, status, code=None):
        self.reply(status, {"X-Error-Code": code} if code else {}, json.dumps({"error": code or status}).encode())

    def find(self, repo_id, revision):
        """The repository or an error already sent."""
        repo = spec["repos"].get(repo_id)
        if repo is None:
            return self.error(404, "RepoNotFound")
        if repo.get("private") and self.headers.get("Authorization") != "Bearer " + spec.get("token", ""):
            return self.error(401)
        if revision not in ("main", repo["sha"]):
            return self.error(404, "RevisionNotFound")
        return repo

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.record()
        parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.split("/")[1:]]
        if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
            repo = self.find(parts[2] + "/" + parts[3], parts[5])
            if repo is not None:
                names = sorted(repo["data"]) + ["extra-%06d.safetensors" % i for i in range(spec.get("extra", 0))]
                listing = {"sha": repo["sha"], "siblings": [{"rfilename": n} for n in names]}
                if spec.get("endless"):
                    self.send_endless_listing(repo["sha"])
                elif spec.get("drip"):
                    self.drip(json.dumps(listing).encode(), spec["drip"])
                else:
                    self.reply(200, {"Content-Type": "application/json"}, json.dumps(listing).encode())
        elif len(parts) == 5 and parts[2] == "resolve":
            repo = self.find(parts[0] + "/" + parts[1], parts[3])
            if repo is None:
                return
            data = repo["data"].get(parts[4])
            if data is None:
                return self.error(404, "EntryNotFound")
            headers = {"X-Repo-Commit": repo["sha"]}
            if parts[4].endswith(".safetensors"):
                sha256 = hashlib.sha256(data).hexdigest()
                headers.update({"X-Linked-Etag": '"%s"' % sha256, "X-Linked-Size": str(len(data)),
                                "ETag": '"%s"' % hashlib.sha1(data).hexdigest(),
                                "Location": "http://%s:%d/cdn/%s" % (cdn_host, cdn_port, sha256)})
                self.reply(302, headers)
            else:
                blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                headers.update({"ETag": '"%s"' % blob_id})
                self.reply(200, headers, data)
        elif len(parts) == 2 and parts[0] == "cdn" and parts[1] in blobs:
            self.send_blob(*blobs[parts[1]])
        elif len(parts) == 3 and parts[0] == "files" and parts[1] in spec.get("folders", {}):
            path = os.path.join(spec["folders"][parts[1]], parts[2])
            if not os.path.isfile(path):
                self.error(404)
            elif spec.get("redirect", {}).get("file") == parts[2] and self.server.server_address[1] == port:
                self.reply(302, {"Location": "http://%s:%d%s" % (cdn_host, cdn_port, self.path)})
            else:
                self.send_blob(parts[1], parts[2], open(path, "rb").read())
        else:
            self.error(404)

    def drip(self, body, seconds):
        """The whole body announced, then one byte every `seconds` until the client goes."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        try:
            for i in range(len(body)):
                self.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_endless_listing(self, sha):
        """A listing without a length that never ends: chunks of file names until the client goes."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True

        def chunk(data):
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

        try:
            chunk(b'{"sha": "%s", "siblings": [' % sha.encode())
            i = 0
            while True:
                chunk(b"".join(b'{"rfilename": "f%09d.safetensors"}, ' % (i + j) for j in range(1000)))
                i += 1000
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_blob(self, repo_id, name, data):
        global cuts_left, stalls_left, fails_left, fails_skipped
        with lock:
            fail = spec.get("fail", {}).get("file") == name and fails_left > 0
            if fail and fails_skipped > 0:
                fails_skipped -= 1
                fail = False
            elif fail:
                fails_left -= 1
        if fail:
            return self.error(spec["fail"].get("status", 500))
        if spec.get("tamper") == name:
            data = data[:-1] + bytes([data[-1] ^ 1])
        start, end = 0, len(data)
        requested = self.headers.get("Range")
        if requested:
            first, _, last = requested.removeprefix("bytes=").partition("-")
            start = int(first)
            end = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data):
                return self.reply(416, {"Content-Range": "bytes */%d" % len(data)})
            shift = spec.get("shift", {})
            if shift.get("file") == name and start >= shift["from"] and end < len(data):
                start, end = start + 1, end + 1
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        data = data[:end]
        with lock:
            cut = spec.get("cut", {}).get("file") == name and cuts_left > 0
            if cut:
                cuts_left -= 1
            stall = spec.get("stall", {}).get("file") == name and stalls_left > 0
            if stall:
                stalls_left -= 1
        if self.command == "HEAD":
            return
        slow = spec.get("slow", {})
        if slow.get("file") == name and requested and start >= slow["from"]:
            time.sleep(slow["seconds"])
        if cut:
            self.write(data[start:start + spec["cut"]["after"]])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if stall:
            self.write(data[start:start + spec["stall"]["after"]])
            self.wfile.flush()
            self.close_connection = True
            time.sleep(60)  # the client gives up first; the server thread is a daemon
            return
        hold = spec.get("hold", {})
        if hold.get("file") == name and start < hold["after"]:
            self.write(data[start:hold["after"]])
            self.wfile.flush()
            while not os.path.exists(hold["until"]):
                time.sleep(0.01)
            start = hold["after"]
            self.close_connection = True  # its client may be gone by now
        try:
            self.write(data[start:])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


cdn_host = spec.get("cdn_host", "localhost")
server = http.server.ThreadingHTTPServer((spec.get("bind", "127.0.0.1"), 0), Hub)
cdn = http.server.ThreadingHTTPServer((spec.get("bind", "127.0.0.1"), 0), Hub)
port, cdn_port = server.server_address[1], cdn.server_address[1]
print(port, flush=True)
print(cdn_port, flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
threading.Thread(target=cdn.serve_forever, daemon=True).start()
sys.stdin.read()
os._exit(0)
