# A git server that wants a password: a bare repository served over git's dumb HTTP protocol
# behind Basic authentication, so a remote URL can carry a real credential in the tests.
from __future__ import annotations

import base64
import functools
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class GitHTTPServer:
    """Serves `repo` (a bare repository) at http://127.0.0.1:<port>/<repo name>; counts requests.

    with GitHTTPServer(repo, "deploy", "token") as server: server.url (no credential in it)
    """

    def __init__(self, repo, user, password):
        self.repo = Path(repo)
        self.expected = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.requests = self.authorized = 0
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def _allowed(self):
                server.requests += 1
                if self.headers.get("Authorization") == server.expected:
                    server.authorized += 1
                    return True
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def do_GET(self):  # noqa: N802 - http.server's hook name
                if self._allowed():
                    super().do_GET()

            def do_HEAD(self):  # noqa: N802 - http.server's hook name
                if self._allowed():
                    super().do_HEAD()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(self.repo.parent)))
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/%s" % (self.port, self.repo.name)

    def __enter__(self):
        # The dumb protocol reads info/refs and objects/info/packs: keep them current.
        subprocess.run(["git", "-C", str(self.repo), "update-server-info"], check=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
