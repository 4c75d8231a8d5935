"""A small stand-in for the Hugging Face Hub's upload protocol on 127.0.0.1, for push tests without a network.

It answers what `HfApi.create_repo` + `upload_folder`/`create_commit` send (huggingface_hub 1.x/2.x, Xet off):
repo creation, card YAML validation, preupload (safetensors go through LFS, the rest inline), the LFS batch API and
its PUT uploads, and the NDJSON commit. Each repo's committed files are kept in memory (`HubServer.repos`), so a
test can compare them with the folder it pushed. Anything else is answered 404 and recorded in `unknown`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.lfs: dict[str, bytes] = {}
        self.lfs_uploads = 0
        self.unknown: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _json(self, payload: Any, status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self._body()
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    request = json.loads(body)
                    repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
                    server.repos.setdefault(repo_id, {})
                    return self._json({"url": f"{server.url}/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    return self._json({"errors": [], "warnings": []})
                if path.startswith("/api/models/") and "/preupload/" in path:
                    files = json.loads(body)["files"]
                    return self._json({"files": [
                        {"path": f["path"], "uploadMode": "lfs" if f["path"].endswith(".safetensors") else "regular",
                         "shouldIgnore": False, "oid": None} for f in files]})
                if path.endswith(".git/info/lfs/objects/batch"):
                    objects = json.loads(body)["objects"]
                    return self._json({"transfer": "basic", "objects": [
                        {"oid": o["oid"], "size": o["size"],
                         "actions": {"upload": {"href": f"{server.url}/lfs-upload/{o['oid']}"}}} for o in objects]})
                if path.startswith("/api/models/") and "/commit/" in path:
                    repo_id = path[len("/api/models/"):].split("/commit/")[0]
                    files = server.repos.setdefault(repo_id, {})
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        value = item["value"]
                        if item["key"] == "file":
                            files[value["path"]] = base64.b64decode(value["content"])
                        elif item["key"] == "lfsFile":
                            files[value["path"]] = server.lfs[value["oid"]]
                    oid = "1" * 40
                    return self._json({"commitUrl": f"{server.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                                       "success": True})
                server.unknown.append(f"POST {self.path}")
                self._json({"error": "unknown endpoint"}, 404)

            def do_PUT(self) -> None:  # noqa: N802
                body = self._body()
                if self.path.startswith("/lfs-upload/"):
                    oid = self.path.rsplit("/", 1)[1]
                    if hashlib.sha256(body).hexdigest() != oid:
                        return self._json({"error": "sha256 mismatch"}, 400)
                    server.lfs[oid] = body
                    server.lfs_uploads += 1
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                server.unknown.append(f"PUT {self.path}")
                self._json({"error": "unknown endpoint"}, 404)

            def do_GET(self) -> None:  # noqa: N802
                server.unknown.append(f"GET {self.path}")
                self._json({"error": "unknown endpoint"}, 404)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
