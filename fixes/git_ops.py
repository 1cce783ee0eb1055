"""The only place that talks to git: a narrow adapter over GitPython for the apply pipeline.

- Identity is set per commit (author and committer environment on that one git command), never by
  changing the process environment.
- An https token is handed to git through `GIT_ASKPASS` on this repository's own git command object;
  it never appears in a URL, a log line or an error message (`scrub` removes it from git's output).
- Every `GitCommandError` is translated here: a push refused because the branch moved becomes
  `PushRejected`; anything else becomes `GitError` with the scrubbed command output.
- git's automatic maintenance (a `git maintenance run --auto` process after every fetch and commit)
  is off for those commands (`-c maintenance.auto=false`); `housekeeping` runs `git gc --auto`
  instead, only when git's own thresholds (loose objects, pack count) may have been reached, which a
  directory listing tells.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git

from fixes.children import OWNER_ENV, die_with_parent_prefix, end_orphans, owner_tag
from fixes.errors import GitError, PushRejected

__all__ = ["GitRepo", "Identity", "check_remote_branch", "gc_due", "parse_trailers", "scrub"]

_ASKPASS = """#!/bin/sh
# Answers git's credential prompts from the environment of the git command that runs it.
case "$1" in
  Username*) printf '%s\\n' "${FIXBOT_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$FIXBOT_GIT_TOKEN" ;;
esac
"""
_ORIGIN_MARKER = "fixbot-origin-url"
# `-c` on the commands that would start it (fetch, commit): configuration through the environment
# would replace any GIT_CONFIG_COUNT entries the deployment sets.
_NO_AUTO_MAINTENANCE = "maintenance.auto=false"
# git's defaults: `gc.auto` loose objects (estimated from the objects/17 folder) and `gc.autoPackLimit`.
_GC_LOOSE_LIMIT = 6700
_GC_PACK_LIMIT = 50
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")


@dataclass(frozen=True)
class Identity:
    """Who a commit is by (the bot): used for both author and committer."""

    name: str
    email: str

    def environment(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with credentials in URLs and every secret in `secrets` replaced by `***`."""
    text = _URL_CREDENTIALS.sub("***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def parse_trailers(message: str) -> dict[str, str]:
    """The `Key: value` trailers of a commit message's last paragraph."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line.strip())
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


class GitRepo:
    """One working copy (a dedicated clone) with `origin` pointing at the target repository."""

    def __init__(self, repo: git.Repo, *, secrets: Sequence[str] = ()) -> None:
        self._repo = repo
        self._secrets = tuple(s for s in secrets if s)
        self.path = Path(repo.working_tree_dir or repo.git_dir)
        # Digest of .git/index right after `reset_hard`: while the index still has exactly these bytes,
        # nothing is staged beyond the base, which lets `commit` take git's cheaper path.
        self._reset_index: str | None = None

    @classmethod
    def open_or_clone(
        cls, url: str, dest: Path, *, branch: str, token: str = "", askpass_dir: Path | None = None
    ) -> GitRepo:
        """The clone of `url` at `dest`, cloning it first when missing or pointing elsewhere."""
        env = _credential_env(token, askpass_dir or dest.parent)
        secrets = (token,)
        if (dest / ".git").is_dir():
            # The URL the clone was made from, recorded at clone time: reading it costs no process
            # (GitPython's config reader alone took longer than a whole `git push`).
            marker = dest / ".git" / _ORIGIN_MARKER
            current = marker.read_text() if marker.is_file() else ""
            if current == url:
                repo = git.Repo(dest)
                repo.git.update_environment(**env)
                return cls(repo, secrets=secrets)
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            repo = git.Repo.clone_from(url, dest, env=env, branch=branch, no_tags=True)
        except git.GitCommandError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise GitError(
                f"could not clone {scrub(url)} (branch {branch!r}): {_output(exc, secrets)}. "
                "Check services.repo, services.branch and GIT_TOKEN."
            ) from None
        repo.git.update_environment(**env)
        (dest / ".git" / _ORIGIN_MARKER).write_text(url)
        with repo.config_writer() as config:
            # The working copy belongs to the bot: no signing prompts, no user hooks.
            config.set_value("commit", "gpgsign", "false")
            config.set_value("core", "hooksPath", "/dev/null")
        return cls(repo, secrets=secrets)

    def _supervised(self, *args: str) -> None:
        """Run a long git command that must not outlive the bot (see `fixes/children.py`)."""
        command = [*die_with_parent_prefix(), str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"), *args]
        with self._repo.git.custom_environment(**{OWNER_ENV: owner_tag(self.path)}):
            self._repo.git.execute(command)

    def end_orphans(self) -> list[int]:
        """Kill git processes a killed bot left running in this clone (call before reading the remote)."""
        return end_orphans(self.path)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except git.GitCommandError as exc:
            raise GitError(f"git {what} failed in {self.path}: {_output(exc, self._secrets)}") from None

    def fetch(self, branch: str) -> str:
        """Fetch `branch` from origin; returns the sha of its head."""
        with self._translated(f"fetch {branch}"):
            self._supervised(
                "-c",
                _NO_AUTO_MAINTENANCE,
                "fetch",
                "--prune",
                "--no-tags",
                "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
            )
        # FETCH_HEAD's first line is "<sha>\t\tbranch '<branch>' of <url>": no second process needed.
        fetched = (Path(self._repo.git_dir) / "FETCH_HEAD").read_text().split("\t", 1)[0].strip()
        if not re.fullmatch(r"[0-9a-f]{40,64}", fetched):
            raise GitError(f"git fetch {branch} left no usable FETCH_HEAD in {self.path}: {fetched!r}")
        return fetched

    def reset_hard(self, ref: str) -> None:
        """Make the working copy exactly `ref`: tracked files reset, untracked and ignored files removed."""
        self._reset_index = None
        with self._translated(f"reset to {ref}"):
            self._repo.git.reset("--hard", "-q", ref)
            self._repo.git.clean("-ffdxq")
        self._reset_index = self._index_digest()

    def _index_digest(self) -> str | None:
        try:
            return hashlib.sha256((Path(self._repo.git_dir) / "index").read_bytes()).hexdigest()
        except OSError:
            return None

    def head(self) -> str:
        """The sha HEAD points at, read from the ref files (no git process)."""
        try:
            return git.SymbolicReference.dereference_recursive(self._repo, "HEAD")
        except (ValueError, OSError):
            with self._translated("rev-parse HEAD"):
                return str(self._repo.git.rev_parse("HEAD"))

    def is_clean(self) -> bool:
        """No modified, staged, untracked or ignored files."""
        with self._translated("status"):
            return not self._repo.git.status("--porcelain", "--ignored", "--untracked-files=all").strip()

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._repo.git.merge_base("--is-ancestor", ancestor, descendant)
        except git.GitCommandError:
            return False
        return True

    def commit(
        self, message: str, paths: Sequence[str], *, identity: Identity, new_paths: Sequence[str] = ()
    ) -> str:
        """Commit exactly `paths` (changed or deleted; `new_paths` untracked ones) as `identity`.

        Returns the new commit's sha.
        """
        # `--only` (git's default with paths) commits exactly `paths` whatever else is staged, by
        # building a temporary index: a third of the commit's time on a large tree. When the index is
        # byte for byte what `reset_hard` left (nothing staged beyond the base), `--include` commits
        # the same tree without it.
        mode = "--include" if self._reset_index and self._index_digest() == self._reset_index else "--only"
        with self._translated("commit"):
            if new_paths:
                self._repo.git.add("--", *new_paths)
            with self._repo.git.custom_environment(**identity.environment()):
                self._repo.git(c=_NO_AUTO_MAINTENANCE).commit(
                    "-q", "--no-verify", mode, "-m", message, "--", *paths
                )
            return self.head()

    def push(self, sha: str, branch: str) -> None:
        """Push `sha` to origin's `branch` (fast-forward only). Raises `PushRejected` if the branch moved."""
        try:
            self._supervised("push", "--porcelain", "origin", f"{sha}:refs/heads/{branch}")
        except git.GitCommandError as exc:
            output = _output(exc, self._secrets)
            if re.search(r"\[rejected\]|non-fast-forward|fetch first", output):
                raise PushRejected(
                    f"the push to {branch} was rejected: the branch moved ({output})"
                ) from None
            raise GitError(f"git push to {branch} failed: {output}") from None

    def push_branch(self, sha: str, branch: str) -> None:
        """Point origin's `branch` (one the bot owns, e.g. fixbot/<fix_id>) at `sha`, forcing it.

        A retried fix is re-applied on a newer base, so its branch may have to move backwards or sideways.
        """
        with self._translated(f"push {branch}"):
            self._repo.git.push("--porcelain", "origin", f"+{sha}:refs/heads/{branch}")

    def fetch_branch(self, branch: str) -> str | None:
        """Fetch origin's `branch` into refs/remotes/origin/<branch>; its head, or None if there is none."""
        with self._translated(f"ls-remote {branch}"):
            listed = str(self._repo.git.ls_remote("origin", f"refs/heads/{branch}"))
        if not listed.strip():
            return None
        with self._translated(f"fetch {branch}"):
            self._repo.git(c=_NO_AUTO_MAINTENANCE).fetch(
                "-q", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
            )
        return str(listed.split(maxsplit=1)[0])

    def find_commit_with_trailer(self, ref: str, key: str, value: str, *, max_count: int = 200) -> str | None:
        """The newest commit reachable from `ref` whose trailer `key` equals `value`, or None."""
        with self._translated(f"log {ref}"):
            raw = self._repo.git.log(
                "--fixed-strings", f"--grep={value}", f"--max-count={max_count}", "--format=%H%x1f%B%x1e", ref
            )
        for record in raw.split("\x1e"):
            sha, _, message = record.strip().partition("\x1f")
            if sha and parse_trailers(message).get(key) == value:
                return str(sha)
        return None

    def revert(self, sha: str, message: str, *, identity: Identity) -> str:
        """Commit the inverse of `sha` on HEAD with `message`; `GitError` on conflict (nothing left over)."""
        # A merge commit (a pull request merged with merge_method "merge") is reverted against its
        # first parent, the deploy branch it was merged into.
        mainline = ["-m", "1"] if self._is_merge(sha) else []
        try:
            self._repo.git.revert("--no-commit", *mainline, sha)
        except git.GitCommandError as exc:
            output = _output(exc, self._secrets)
            raise GitError(
                f"git revert {sha[:12]} does not apply cleanly on the current head: {output}"
            ) from None
        with self._translated("commit (revert)"), self._repo.git.custom_environment(**identity.environment()):
            self._repo.git(c=_NO_AUTO_MAINTENANCE).commit("-q", "--no-verify", "-m", message)
        return self.head()

    def housekeeping(self, *, loose_limit: int = _GC_LOOSE_LIMIT) -> bool:
        """Run `git gc --auto` (which applies git's exact rules) when `gc_due`; True when it ran."""
        if not gc_due(Path(self._repo.git_dir) / "objects", loose_limit=loose_limit):
            return False
        with self._translated("gc --auto"):
            self._repo.git.gc("--auto", "--quiet")
        return True

    def changed_paths(self, sha: str) -> list[str]:
        """Paths a commit touched (relative to the repository root)."""
        with self._translated(f"show {sha[:12]}"):
            if self._is_merge(sha):  # what the merge brought into its first parent
                out = self._repo.git.diff("--name-only", f"{sha}^1", sha)
            else:
                out = self._repo.git.show("--name-only", "--format=", sha)
        return [line for line in out.splitlines() if line.strip()]

    def _is_merge(self, sha: str) -> bool:
        with self._translated(f"rev-list {sha[:12]}"):
            parents = str(self._repo.git.rev_list("--parents", "-n", "1", sha)).split()
        return len(parents) > 2

    def message(self, sha: str) -> str:
        with self._translated(f"log {sha[:12]}"):
            return str(self._repo.git.log("-1", "--format=%B", sha))


def gc_due(objects: Path, *, loose_limit: int = _GC_LOOSE_LIMIT, pack_limit: int = _GC_PACK_LIMIT) -> bool:
    """True when `git gc --auto` may have work in the object folder `objects`: git's own estimate
    (loose objects in `17/` times 256 above `loose_limit`) or more than `pack_limit` packs."""
    try:
        loose = sum(1 for name in os.listdir(objects / "17") if len(name) == 38)
    except FileNotFoundError:
        loose = 0
    try:
        packs = sum(1 for name in os.listdir(objects / "pack") if name.endswith(".pack"))
    except FileNotFoundError:
        packs = 0
    return loose > -(-loose_limit // 256) or packs > pack_limit


def _credential_env(token: str, askpass_dir: Path) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if token:
        askpass_dir.mkdir(parents=True, exist_ok=True)
        script = askpass_dir / "git-askpass.sh"
        if not script.exists() or script.read_text() != _ASKPASS:
            script.write_text(_ASKPASS)
            script.chmod(0o700)
        env.update(GIT_ASKPASS=str(script), FIXBOT_GIT_TOKEN=token)
    return env


def _output(exc: git.GitCommandError, secrets: Sequence[str]) -> str:
    parts = [str(p).strip() for p in (exc.stderr, exc.stdout) if p and str(p).strip()]
    text = " | ".join(parts) or f"exit status {exc.status}"
    return scrub(text.replace("stderr: ", "").replace("stdout: ", ""), secrets)


def check_remote_branch(
    url: str, branch: str, *, token: str = "", askpass_dir: Path, timeout: float = 30
) -> None:
    """Raise `GitError` unless `url` answers and has `branch` (`git ls-remote`, nothing cloned)."""
    try:
        # GitPython adds `env` to the process environment (it does not replace it).
        out = git.Git().execute(
            ["git", "ls-remote", "--heads", url, branch],
            env=_credential_env(token, askpass_dir),
            kill_after_timeout=timeout,
        )
    except git.GitCommandError as exc:
        raise GitError(f"cannot reach {scrub(url)}: {_output(exc, (token,))}") from None
    if not str(out).strip():
        raise GitError(f"{scrub(url)} has no branch {branch!r}")
