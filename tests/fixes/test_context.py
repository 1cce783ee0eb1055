"""Code context: frames and log statements become function windows; nothing outside or denied is read."""

from __future__ import annotations

from pathlib import Path

from fixes.context import ReadPolicy, build_code_context, literal_parts, read_repo_file, repo_relative

APP = """import logging

log = logging.getLogger(__name__)


def total(items):
    return sum(i["price"] for i in items)


def handle(order):
    try:
        return total(order["items"])
    except TypeError:
        log.error(f"Failed to total order {order['id']}")
        raise
"""

POLICY = ReadPolicy(denied=(".env*", "**/.env*", "secrets/**"))


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "orders.py").write_text(APP)
    (root / "secrets").mkdir()
    (root / "secrets" / "keys.py").write_text("TOKEN = 'hunter2'\n")
    (root / ".env").write_text("API_KEY=hunter2\n")
    return root


def test_frame_in_repo_becomes_its_function_window(tmp_path: Path) -> None:
    """A frame's absolute path from another machine maps to the repo file and its enclosing function."""
    root = _repo(tmp_path)
    details = {"frames": [{"file": "/srv/app/app/orders.py", "line": 7, "function": "total"}]}
    context = build_code_context(root, details=details, policy=POLICY, token_budget=2000)
    window = context.windows[0]
    assert ("app/orders.py", 6, 7) == (window.path, window.start, window.end)
    assert '    7 |     return sum(i["price"] for i in items)' in context.text


def test_log_statement_literal_finds_the_emitting_function(tmp_path: Path) -> None:
    """The template's literal text (placeholders removed) leads to the function with the log call."""
    root = _repo(tmp_path)
    context = build_code_context(
        root, details={"template": "Failed to total order <*>"}, policy=POLICY, token_budget=2000
    )
    assert "function handle()" in context.windows[0].reason
    assert "log.error" in context.text


def test_frames_outside_the_repo_are_skipped(tmp_path: Path) -> None:
    """Standard-library and site-packages frames are not read."""
    root = _repo(tmp_path)
    details = {"frames": [{"file": "/usr/lib/python3.11/json/decoder.py", "line": 3, "function": "x"}]}
    context = build_code_context(root, details=details, policy=POLICY, token_budget=2000)
    assert () == context.windows
    assert "outside the repository or denied" in context.skipped[0]


def test_denied_files_are_never_read_even_through_a_symlink(tmp_path: Path) -> None:
    """A denied file, a symlink to it, and a symlink leaving the repository all read as None."""
    root = _repo(tmp_path)
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    (root / "app" / "link_env.py").symlink_to(root / ".env")
    (root / "app" / "link_out.py").symlink_to(outside)
    results = [
        read_repo_file(root, p, POLICY)
        for p in (".env", "secrets/keys.py", "app/link_env.py", "app/link_out.py", "../outside.py")
    ]
    assert [None] * 5 == results
    assert None is repo_relative(root, str(root / "secrets" / "keys.py"), POLICY)


def test_budget_bounds_the_context(tmp_path: Path) -> None:
    """Windows that do not fit the token budget are left out and listed as skipped."""
    root = _repo(tmp_path)
    details = {
        "frames": [{"file": "app/orders.py", "line": 7, "function": "total"}],
        "template": "Failed to total order <*>",
    }
    small = build_code_context(root, details=details, policy=POLICY, token_budget=40)
    assert 1 == len(small.windows)
    assert any("over the context token budget" in s for s in small.skipped)
    assert len(small.text) <= 40 * 4


def test_literal_parts_drop_placeholders() -> None:
    """Placeholders in any of the common styles split the template; short pieces are dropped."""
    expected = ["Failed to total order", "retrying in"]
    assert expected == literal_parts("Failed to total order <*>: retrying in <NUM>s {x}")
