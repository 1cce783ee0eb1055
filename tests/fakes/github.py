"""A fake of GitHub's REST API for pull requests on 127.0.0.1, backed by a real bare git repository.

Serves, for one repository `owner/name` whose branches live in `remote` (a bare repository):

    POST /repos/{o}/{r}/pulls                       201; 422 when head is missing or a PR is open for it
    GET  /repos/{o}/{r}/pulls?head=o:b&base=&state= list, paginated (`per_page`, `page`, `Link`)
    GET  /repos/{o}/{r}/pulls/{n}                   head sha read live from the remote
    PUT  /repos/{o}/{r}/pulls/{n}/merge             200 {sha, merged}; 409 head sha mismatch; 405 not
                                                    mergeable (draft, failing/pending checks when
                                                    `required_checks` is set, closed)
    GET  /repos/{o}/{r}/commits/{sha}/check-runs    {total_count, check_runs}, paginated
    GET  /repos/{o}/{r}/commits/{sha}/status        combined status
    GET  /repos/{o}/{r}/pulls/{n}/reviews           list
    POST /repos/{o}/{r}/issues/{n}/labels           200; /comments 201

Every request must carry `Authorization: Bearer <token>` (401 "Bad credentials" otherwise) and
`X-GitHub-Api-Version`. GET answers carry an `ETag` (a hash of the body); `If-None-Match` with the
same value gets a bodiless 304, which is not counted in `counted_requests` (as GitHub does not count
it against the rate limit). A merge really merges in the bare repository (`git merge-tree`, then
a squash or merge commit), so the deploy branch moves as it would on GitHub.
`fail_next(Failure(403, headers={"Retry-After": "30"}))` scripts rate limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.fakes._http import Failure, FakeServer, LocalServer, Reply, Request

__all__ = ["Failure", "FakeGitHub"]

_IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}


class FakeGitHub(FakeServer):
    """The fake server; see the module docstring."""

    def __init__(
        self, remote: Path, *, repository: str = "acme/sample", tokens: set[str] | None = None
    ) -> None:
        self.remote = remote
        self.repository = repository
        self.owner = repository.split("/", maxsplit=1)[0]
        self.tokens = set(tokens or {"ghp-test-token"})
        self.pulls: dict[int, dict[str, Any]] = {}
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.labels: dict[int, list[str]] = {}
        self.comments: dict[int, list[str]] = {}
        self.required_checks = False
        # What `GET /repos/{o}/{r}` reports for the token's user, and reads refused with 403 (by the
        # permission GitHub would name in X-Accepted-GitHub-Permissions: "checks", "statuses", ...).
        self.permissions = {"admin": False, "push": True, "pull": True}
        self.denied: set[str] = set()
        self.not_modified = 0
        self.counted_requests = 0
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle)

    # ------------------------------------------------------------------ scripting

    def add_check_run(
        self, sha: str, name: str, status: str = "completed", conclusion: str | None = "success"
    ) -> None:
        with self._lock:
            runs = self.check_runs.setdefault(sha, [])
            runs[:] = [r for r in runs if r["name"] != name]
            runs.append(
                {
                    "id": len(runs) + 1,
                    "name": name,
                    "head_sha": sha,
                    "status": status,
                    "conclusion": conclusion,
                }
            )

    def set_status(self, sha: str, context: str, state: str) -> None:
        with self._lock:
            entries = self.statuses.setdefault(sha, [])
            entries[:] = [s for s in entries if s["context"] != context]
            entries.append({"context": context, "state": state})

    def add_review(self, number: int, login: str, state: str) -> None:
        with self._lock:
            self.reviews.setdefault(number, []).append({"user": {"login": login}, "state": state})

    def close(self, number: int) -> None:
        with self._lock:
            self.pulls[number]["state"] = "closed"

    def merge_in_github(self, number: int, login: str = "dev") -> str:
        """A person presses Merge in GitHub's UI."""
        with self._lock:
            return self._merge(self.pulls[number], login)

    def head_of(self, branch: str) -> str:
        return self._rev(f"refs/heads/{branch}") or ""

    # ------------------------------------------------------------------ git

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.remote, capture_output=True, text=True, check=False, env=env
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def _rev(self, ref: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "-q", ref)
        except RuntimeError:
            return None

    def _merge(self, pull: dict[str, Any], login: str, method: str = "merge", title: str = "") -> str:
        base_ref, head_ref = pull["base"]["ref"], pull["head"]["ref"]
        base, head = self._rev(f"refs/heads/{base_ref}"), self._rev(f"refs/heads/{head_ref}")
        if base is None or head is None:
            raise RuntimeError("branch vanished")
        tree = self._git("merge-tree", "--write-tree", base, head).splitlines()[0]
        message = title or f"Merge pull request #{pull['number']} from {self.owner}/{head_ref}"
        parents = ["-p", base] if method == "squash" else ["-p", base, "-p", head]
        sha = self._git("commit-tree", tree, *parents, "-m", message, env={**os.environ, **_IDENTITY})
        self._git("update-ref", f"refs/heads/{base_ref}", sha, base)
        pull.update(state="closed", merged=True, merge_commit_sha=sha, merged_by={"login": login})
        return sha

    # ------------------------------------------------------------------ HTTP

    def _pull_json(self, pull: dict[str, Any]) -> dict[str, Any]:
        head = self._rev(f"refs/heads/{pull['head']['ref']}") or pull["head"]["sha"]
        if pull["state"] == "open":
            pull["head"]["sha"] = head
        return {**pull, "mergeable_state": self._mergeable_state(pull)}

    def _checks_ok(self, sha: str) -> bool:
        runs = self.check_runs.get(sha, [])
        statuses = self.statuses.get(sha, [])
        return all(r["status"] == "completed" and r["conclusion"] == "success" for r in runs) and all(
            s["state"] == "success" for s in statuses
        )

    def _mergeable_state(self, pull: dict[str, Any]) -> str:
        if pull["draft"]:
            return "draft"
        if self.required_checks and not self._checks_ok(pull["head"]["sha"]):
            return "blocked"
        return "clean"

    def _handle(self, request: Request) -> Reply:  # noqa: PLR0911 - each check answers as GitHub does
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.tokens:
            return Reply(
                401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            )
        if not request.headers.get("x-github-api-version"):
            return Reply(400, {"message": "X-GitHub-Api-Version header is required by this fake"})
        prefix = f"/repos/{self.repository}"
        if request.path == prefix and request.method == "GET":
            return Reply(200, {"full_name": self.repository, "permissions": self.permissions})
        refused = self._refused(request.path[len(prefix) :])
        if refused:
            return Reply(
                403,
                {"message": "Resource not accessible by personal access token"},
                headers={"X-Accepted-GitHub-Permissions": f"{refused}=read"},
            )
        if not request.path.startswith(prefix + "/"):
            return Reply(404, {"message": "Not Found"})
        path = request.path[len(prefix) :]
        with self._lock:
            reply = self._route(request, path)
        if request.method == "GET" and reply.status == 200:
            etag = (
                '"' + hashlib.sha256(json.dumps(reply.body, sort_keys=True).encode()).hexdigest()[:32] + '"'
            )
            if request.headers.get("if-none-match") == etag:
                self.not_modified += 1
                return Reply(304, raw=b"", headers={"ETag": etag})
            reply = Reply(reply.status, reply.body, headers={**reply.headers, "ETag": etag})
        self.counted_requests += 1
        return reply

    def _refused(self, path: str) -> str:
        kinds = {"checks": "/check-runs", "statuses": "/status", "pull_requests": "/pulls"}
        for kind, marker in kinds.items():
            if kind in self.denied and (path.endswith(marker) or path.startswith(marker)):
                return kind
        return ""

    def _route(self, request: Request, path: str) -> Reply:  # noqa: PLR0911 - one branch per endpoint
        method = request.method
        if path == "/pulls" and method == "POST":
            return self._create(request.json() or {})
        if path == "/pulls" and method == "GET":
            return self._list(request)
        if match := re.fullmatch(r"/pulls/(\d+)", path):
            pull = self.pulls.get(int(match.group(1)))
            return Reply(200, self._pull_json(pull)) if pull else Reply(404, {"message": "Not Found"})
        if (match := re.fullmatch(r"/pulls/(\d+)/merge", path)) and method == "PUT":
            return self._merge_request(int(match.group(1)), request.json() or {})
        if match := re.fullmatch(r"/pulls/(\d+)/reviews", path):
            return self._page(request, self.reviews.get(int(match.group(1)), []), path)
        if match := re.fullmatch(r"/commits/([^/]+)/(check-runs|status)", path):
            return self._commit_checks(request, path, match.group(1), match.group(2))
        if (match := re.fullmatch(r"/issues/(\d+)/labels", path)) and method == "POST":
            labels = (request.json() or {}).get("labels", [])
            self.labels.setdefault(int(match.group(1)), []).extend(labels)
            return Reply(200, [{"name": name} for name in labels])
        if (match := re.fullmatch(r"/issues/(\d+)/comments", path)) and method == "POST":
            self.comments.setdefault(int(match.group(1)), []).append((request.json() or {}).get("body", ""))
            return Reply(201, {"id": 1})
        return Reply(404, {"message": "Not Found"})

    def _commit_checks(self, request: Request, path: str, ref: str, what: str) -> Reply:
        """`commits/{ref}/…`: ref is a sha or a branch name, as on GitHub."""
        sha = self._rev(ref) or ref
        if what == "check-runs":
            return self._page(request, self.check_runs.get(sha, []), path, key="check_runs")
        entries = self.statuses.get(sha, [])
        states = {s["state"] for s in entries}
        failed, pending = states & {"failure", "error"}, "pending" in states or not entries
        state = "failure" if failed else ("pending" if pending else "success")
        return Reply(200, {"state": state, "statuses": entries, "total_count": len(entries), "sha": sha})

    def _create(self, body: dict[str, Any]) -> Reply:
        missing = [key for key in ("title", "head", "base") if not body.get(key)]
        if missing:
            return Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing
                    ],
                },
            )
        head = self._rev(f"refs/heads/{body['head']}")
        if head is None or self._rev(f"refs/heads/{body['base']}") is None:
            return Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                },
            )
        for pull in self.pulls.values():
            if (
                pull["state"] == "open"
                and pull["head"]["ref"] == body["head"]
                and pull["base"]["ref"] == body["base"]
            ):
                return Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {self.owner}:{body['head']}.",
                            }
                        ],
                    },
                )
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
            "state": "open",
            "title": body["title"],
            "body": body.get("body", ""),
            "draft": bool(body.get("draft", False)),
            "head": {"ref": body["head"], "sha": head, "label": f"{self.owner}:{body['head']}"},
            "base": {"ref": body["base"]},
            "merged": False,
            "merge_commit_sha": None,
            "merged_by": None,
        }
        self.pulls[number] = pull
        return Reply(201, self._pull_json(pull))

    def _list(self, request: Request) -> Reply:
        head = request.query.get("head", "")
        base = request.query.get("base", "")
        state = request.query.get("state", "open")
        found = [
            self._pull_json(p)
            for p in self.pulls.values()
            if (not head or f"{self.owner}:{p['head']['ref']}" == head)
            and (not base or p["base"]["ref"] == base)
            and (state == "all" or p["state"] == state)
        ]
        return self._page(request, found, "/pulls")

    def _page(self, request: Request, items: list[Any], path: str, key: str = "") -> Reply:
        per_page = int(request.query.get("per_page", "30"))
        page = int(request.query.get("page", "1"))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = "&".join(f"{k}={v}" for k, v in {**request.query, "page": str(page + 1)}.items())
            headers["Link"] = f'<{self.url}/repos/{self.repository}{path}?{query}>; rel="next"'
        body: Any = {"total_count": len(items), key: chunk} if key else chunk
        return Reply(200, body, headers=headers)

    def _merge_request(self, number: int, body: dict[str, Any]) -> Reply:
        pull = self.pulls.get(number)
        if pull is None:
            return Reply(404, {"message": "Not Found"})
        if pull["state"] != "open":
            return Reply(405, {"message": "Pull Request is not mergeable"})
        head = self._rev(f"refs/heads/{pull['head']['ref']}")
        if body.get("sha") and body["sha"] != head:
            return Reply(409, {"message": "Head branch was modified. Review and try the merge again."})
        if self._mergeable_state({**pull, "head": {**pull["head"], "sha": head}}) != "clean":
            return Reply(405, {"message": "Pull Request is not mergeable"})
        sha = self._merge(pull, "fixbot", body.get("merge_method", "merge"), body.get("commit_title", ""))
        return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})
