"""An apply's progress is one message in the proposal's thread, edited in place; details come once."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.slack.client import SlackCalls, make_web_client
from bot.slack.poster import ProposalPoster, SlackNotifier
from bot.status import ErrorLog
from core.settings import Settings
from core.store.proposals import get_proposal
from tests.bot.slack.conftest import add_proposal
from tests.fakes.slack_api import FakeSlack

STEPS = [
    "fetching main of https://github.com/acme/api.git",
    "applying 1 file(s): app/tools.py",
    "validating: compile, import, tests",
    "tests failed; running them on the base to see which failures are new",
    "FAILED tests/test_tools.py::test_lookup - KeyError: 'x'\n  File app/tools.py, line 3\n    return t['x']",
    "validation passed in 12.3s",
    "pushing abc1234def56 to main",
    *[
        f"deployment d-9: {status} (0:{i:02d})"
        for i, status in enumerate(["QUEUED", "BUILDING", "DEPLOYING"])
    ],
]


def _notifier(settings: Settings, sessions: sessionmaker[Session], fake: FakeSlack) -> SlackNotifier:
    client = make_web_client(fake.token, base_url=fake.api_url)
    return SlackNotifier(ProposalPoster(settings, sessions, SlackCalls(client, ErrorLog())))


def _all_steps(
    settings: Settings, sessions: sessionmaker[Session], fake: FakeSlack
) -> tuple[SlackNotifier, str, str]:
    """A posted proposal whose apply reported every step; (notifier, fix id, thread ts)."""
    fix_id = add_proposal(sessions, posted=True)
    with sessions() as session:
        thread = get_proposal(session, fix_id).slack_ts
    notifier = _notifier(settings, sessions, fake)
    for line in STEPS:
        notifier.progress(fix_id, line)
    return notifier, fix_id, thread


def test_progress_is_one_message_updated_in_place(
    settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack
) -> None:
    """Ten steps: one reply in the thread, edited nine times; it reads every step, in order."""
    _, _, thread = _all_steps(settings, sessions, fake_slack)

    posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.params.get("thread_ts") == thread]
    edits = fake_slack.calls_to("chat.update")
    assert 1 == len(posts)
    assert len(STEPS) - 1 == len(edits)
    lines = fake_slack.thread_lines(thread)
    assert [line.splitlines()[0] for line in STEPS] == lines
    assert [] == fake_slack.refused


def test_details_are_posted_once_at_the_end(
    settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack
) -> None:
    """The test output behind a multi-line step is one "Details" reply when the state changes."""
    notifier, fix_id, thread = _all_steps(settings, sessions, fake_slack)

    notifier.proposal_changed(fix_id)
    notifier.proposal_changed(fix_id)  # nothing new to say: no second details reply

    details = [
        c.params["text"]
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("thread_ts") == thread and c.params["text"].startswith("Details")
    ]
    assert 1 == len(details)
    assert "return t['x']" in details[0]


def test_long_details_go_up_as_a_file(
    settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack
) -> None:
    """Test output longer than a message is uploaded into the thread as one file."""
    fix_id = add_proposal(sessions, posted=True)
    notifier = _notifier(settings, sessions, fake_slack)
    output = "\n".join(f"FAILED tests/test_{i}.py::test_case - AssertionError" for i in range(200))

    notifier.progress(fix_id, f"tests failed\n{output}")
    notifier.proposal_changed(fix_id)

    assert 1 == len(fake_slack.calls_to("files.completeUploadExternal"))
    assert output.encode() in b"".join(fake_slack.uploads.values())
