"""Child process for the orphan test: push a commit from a clone (the remote's hook holds it).

Usage: python -m tests.fixes.push_child CLONE SHA BRANCH
"""

from __future__ import annotations

import sys

import git

from fixes.git_ops import GitRepo


def main(argv: list[str]) -> None:
    clone, sha, branch = argv
    GitRepo(git.Repo(clone)).push(sha, branch)


if __name__ == "__main__":
    main(sys.argv[1:])
