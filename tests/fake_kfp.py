"""A stand-in for the KFP v2beta1 REST API on loopback, for driving kfp.Client in tests.

It answers only the calls `make deploy`, `make schedule` and `make unschedule` make (healthz,
pipelines and their versions, experiments, runs, recurring runs), keeps what they create in
memory, and records every request as received. With `multi_user`, it refuses experiments
without a namespace, as a multi-user Kubeflow does; with `token`, every request without that
bearer token. What a test against it proves: the requests
kfp.Client (KFP's own client and models) builds from our code, their bodies, and that our
logic reaches the right end state (one pipeline, versions, one recurring run). What it does not
prove: that a real KFP server accepts the spec, schedules it or runs it. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or the uploaded file's text for uploads


@dataclass
class FakeKfp:
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, list[dict]] = field(default_factory=dict)  # by pipeline id
    uploaded: dict[str, str] = field(default_factory=dict)  # version id -> file text
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    recurring_runs: dict[str, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # When set, creating a recurring run is refused (HTTP 400), as a server refusing a request.
    refuse_recurring_runs: bool = False
    # As a multi-user Kubeflow's API: experiments are listed and created in a namespace only
    # (HTTP 400 without one), and a pipeline uploaded with a namespace is private to it.
    multi_user: bool = False
    # When set, a request without "Authorization: Bearer <token>" is refused (HTTP 401).
    token: str | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    # --- routes -------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        if (method, path) == ("GET", f"{API}/healthz"):
            return {"multi_user": self.multi_user}
        if (method, path) == ("GET", f"{API}/pipelines"):
            name, namespace = _filter_value(query), query.get("namespace", "")
            found = [
                p
                for p in self.pipelines.values()
                if p["display_name"] == name and p["namespace"] == namespace
            ]
            return {"pipelines": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", f"{API}/pipelines/upload"):
            pipeline = {
                "pipeline_id": self.new_id("pipeline"),
                "display_name": query["name"],
                "namespace": query.get("namespace", ""),
            }
            self.pipelines[pipeline["pipeline_id"]] = pipeline
            self._add_version(pipeline["pipeline_id"], query["name"], body)
            return pipeline
        if (method, path) == ("POST", f"{API}/pipelines/upload_version"):
            return self._add_version(query["pipelineid"], query["name"], body)
        if method == "GET" and path.startswith(f"{API}/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[-2]
            return {"pipeline_versions": self.versions.get(pipeline_id, [])}
        if (method, path) == ("GET", f"{API}/experiments"):
            if self.multi_user and not query.get("namespace"):
                raise ValueError("In multi-user mode, ListExperiments must filter by namespace")
            name, namespace = _filter_value(query), query.get("namespace", "")
            found = [
                e
                for e in self.experiments.values()
                if e["display_name"] == name and e.get("namespace", "") == namespace
            ]
            return {"experiments": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", f"{API}/experiments"):
            if self.multi_user and not body.get("namespace"):
                raise ValueError("In multi-user mode, an experiment needs a namespace")
            experiment = {**body, "experiment_id": self.new_id("experiment")}
            self.experiments[experiment["experiment_id"]] = experiment
            return experiment
        if (method, path) == ("POST", f"{API}/runs"):
            run = {**body, "run_id": self.new_id("run")}
            self.runs.append(run)
            return run
        if (method, path) == ("GET", f"{API}/recurringruns"):
            found = [
                r
                for r in self.recurring_runs.values()
                if r.get("experiment_id") == query.get("experiment_id")
            ]
            return {"recurringRuns": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", f"{API}/recurringruns"):
            if self.refuse_recurring_runs:
                raise ValueError("recurring run refused")
            recurring = {**body, "recurring_run_id": self.new_id("recurring")}
            self.recurring_runs[recurring["recurring_run_id"]] = recurring
            return recurring
        if method == "DELETE" and path.startswith(f"{API}/recurringruns/"):
            del self.recurring_runs[path.rsplit("/", 1)[1]]
            return {}
        raise LookupError(f"the fake KFP API has no route for {method} {path}")

    def _add_version(self, pipeline_id: str, name: str, text: str) -> dict:
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": self.new_id("version"),
            "display_name": name,
        }
        self.versions.setdefault(pipeline_id, []).append(version)
        self.uploaded[version["pipeline_version_id"]] = text
        return version

    # --- server -------------------------------------------------------------------------------
    def __enter__(self) -> FakeKfp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = _parse_body(self.headers.get("Content-Type", ""), raw)
                fake.requests.append(Request(self.command, url.path, query, body))
                try:
                    if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                        raise PermissionError("no valid bearer token")
                    status, answer = 200, fake.handle(self.command, url.path, query, body)
                except PermissionError as e:
                    status, answer = 401, {"error": str(e)}
                except LookupError as e:
                    status, answer = 404, {"error": str(e)}
                except ValueError as e:
                    status, answer = 400, {"error": str(e)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(r.method, r.path) for r in self.requests]


def _filter_value(query: dict[str, str]) -> str | None:
    """The display name a kfp.Client list call filters on."""
    if "filter" not in query:
        return None
    (predicate,) = json.loads(query["filter"])["predicates"]
    return predicate.get("stringValue") or predicate.get("string_value")


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        (part,) = list(message.iter_parts())
        return (
            part.get_content()
            if isinstance(part.get_content(), str)
            else (part.get_content().decode())
        )
    return json.loads(raw)
