"""Slack's 2025 limit for non-Marketplace apps (one conversations.history call a minute per workspace, 15 messages)
kept by the hub: Slack tiles and the look-up of a post after a crash share one turn a minute per workspace, timed by
the hub's clock (moved, never slept), against the Slack sandbox enforcing the same limit by that clock."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from hub import db
from hub.cli import main
from hub.models import Delivery, DeliveryStatus
from hub.sharing import outbox, publishing, sender
from hub.tiles.refresh import Outcome
from providers.base import Post, Target
from providers.slack.sandbox import T_PARTNER, HistoryLimit
from tests.clock import MovableClock, movable_clock
from tests.live import LiveHub
from tests.tiles.test_refresh import add_tile, connect_slack, refresh, tile_of
from tests.tiles.world import Orgs


def _history(live: LiveHub) -> list[dict[str, str]]:
    return [args for method, args in live.sandboxes["slack"].reads if method == "conversations.history"]


def _crashed_delivery(live: LiveHub, org_id: int, token: str, clock: MovableClock) -> int:
    """A slack:#wins delivery whose attempt posted and then died: the post is in the channel, the lease lapsed."""
    with live.context() as session:
        row = Delivery(key="evt-9:1:slack:#wins", destination="slack:#wins", org_id=org_id, text="Ada completed")
        session.add(row)
        session.commit()
        assert outbox.claim(session, row.id, outbox.Policy()) is not None
        publisher = publishing.publisher_for(session, "slack")
        publisher.publish(Target("#wins", {"access_token": token}),
                          Post("Ada completed Security Basics", None, None, None, sender.marker(row)))
        clock.advance(seconds=outbox.Policy().lease_seconds + 1)  # the attempt died holding its lease
        return row.id


def _deliver(live: LiveHub, delivery_id: int) -> tuple[str, Delivery]:
    with live.app.app_context():
        outcome = sender.deliver(db.session(), delivery_id)
        return outcome, db.session().scalars(select(Delivery).where(Delivery.id == delivery_id)).one()


def test_tiles_and_lookups_share_one_history_call_a_minute_per_workspace(live: LiveHub, orgs: Orgs) -> None:
    clock = movable_clock(live.app)
    sandbox = live.sandboxes["slack"]
    sandbox.history_limit = HistoryLimit(clock=lambda: clock.now().timestamp())
    live.add_provider("slack", slack_app="non-marketplace")
    token = sandbox.install_bot()
    connect_slack(live, orgs.partners, token)
    learning = add_tile(live, "slack:channel", "#learning", org_id=orgs.partners, max_items=20)
    general = add_tile(live, "slack:channel", "#general", org_id=orgs.partners)
    sandbox.post_as("general", "Welcome to the cohort")
    crashed = _crashed_delivery(live, orgs.partners, token, clock)

    assert refresh(live, learning).outcome == Outcome.REFRESHED  # the workspace's call of this minute
    assert [args["limit"] for args in _history(live)] == ["15"]  # 20 asked for, 15 the most Slack gives

    # The look-up after the crash waits its turn instead of spending a call Slack would refuse.
    outcome, row = _deliver(live, crashed)
    assert outcome == sender.Outcome.RECOVERING and row.status == DeliveryStatus.SENDING
    assert "one conversations.history call a minute" in (row.last_error or "")
    waiting = refresh(live, general)
    assert waiting.outcome == Outcome.WAITING and waiting.next_refresh_at is not None
    assert 0 < (waiting.next_refresh_at - clock.now()).total_seconds() <= 60
    assert len(_history(live)) == 1
    assert not tile_of(live, general)[0].stale  # waiting its turn is not a failure: the tile is not shown stale

    clock.advance(seconds=61)
    outcome, row = _deliver(live, crashed)
    assert outcome == sender.Outcome.SENT and row.remote_id and row.remote_id.startswith("C0WINS00001:")
    assert refresh(live, general).outcome == Outcome.WAITING  # the look-up took this minute's turn
    clock.advance(seconds=61)
    assert refresh(live, general).outcome == Outcome.REFRESHED
    assert not tile_of(live, general)[0].stale

    calls = sandbox.history_limit.admitted[T_PARTNER]
    assert len(calls) == 3 and all(later - earlier >= 60 for earlier, later in zip(calls, calls[1:], strict=False))
    assert sandbox.history_limit.refused == {} and sandbox.history_limit.oversized == []  # the hub never overstepped
    assert all(int(args["limit"]) <= 15 for args in _history(live))


def test_an_app_misdeclared_internal_meets_slacks_limit_and_the_tile_waits(live: LiveHub, orgs: Orgs) -> None:
    """The sandbox enforces the limit itself, so a hub that does not keep it is caught: answered 429, not served."""
    clock = movable_clock(live.app)
    sandbox = live.sandboxes["slack"]
    sandbox.history_limit = HistoryLimit(clock=lambda: clock.now().timestamp())
    live.add_provider("slack", slack_app="internal")
    connect_slack(live, orgs.partners, sandbox.install_bot())
    first = add_tile(live, "slack:channel", "#learning", org_id=orgs.partners)
    second = add_tile(live, "slack:channel", "#general", org_id=orgs.partners)
    assert refresh(live, first).outcome == Outcome.REFRESHED
    refused = refresh(live, second)
    assert refused.outcome == Outcome.RATE_LIMITED and sandbox.history_limit.refused == {T_PARTNER: 1}
    assert refused.next_refresh_at is not None
    assert refused.next_refresh_at - clock.now() <= timedelta(seconds=61)


def test_the_slack_app_option_takes_only_the_known_kinds(live: LiveHub) -> None:
    result = CliRunner().invoke(main, ["provider", "add", "slack", "--kind", "slack", "--client-id", "1.2",
                                       "--client-secret", "s", "--option", "slack_app=distributed"], env=live.env)
    assert result.exit_code != 0 and "must be one of internal, marketplace, non-marketplace" in result.output
    listed = CliRunner().invoke(main, ["provider", "list", "--json"], env=live.env)
    assert listed.exit_code == 0 and '"slack"' not in listed.output
    added = CliRunner().invoke(main, ["provider", "add", "slack", "--kind", "slack", "--client-id", "1.2",
                                      "--client-secret", "s", "--option", "slack_app=non-marketplace"], env=live.env)
    assert added.exit_code == 0, added.output
