"""Lenient parsing and stable ids: what keeps Moodle from splitting batches and resends from doubling events."""
from __future__ import annotations

import json

import pytest

from tests.webhooks.xapi.helpers import moodle_batch, openedx
from webhooks.xapi.statements import StatementError, parse_body, prepare


def test_one_statement_or_an_array() -> None:
    single = openedx("passed")
    assert parse_body(json.dumps(single).encode()) == [single]
    assert len(parse_body(json.dumps(moodle_batch()).encode())) == 5


@pytest.mark.parametrize("body, field", [
    (b"{not json", "body"),
    (b"\xff\xfe", "body"),
    (b"[1]", "statements[0]"),
])
def test_unparseable_bodies_are_refused(body: bytes, field: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_body(body)
    assert caught.value.field == field


@pytest.mark.parametrize("part", ["actor", "verb", "object"])
def test_a_statement_needs_actor_verb_and_object(part: str) -> None:
    body = openedx("passed")
    del body[part]
    with pytest.raises(StatementError) as caught:
        prepare(body, "statements[3]")
    assert caught.value.field == f"statements[3].{part}"
    assert f"statements[3].{part}" in str(caught.value)


def test_moodle_quirks_are_accepted() -> None:
    for body in moodle_batch():  # instructor "System", objectType ["Activity"], single-object contextActivities
        assert prepare(body).derived_id


def test_given_ids_are_kept_and_uuids_normalised() -> None:
    body = openedx("passed")
    body["id"] = body["id"].upper()
    assert prepare(body).id == "6d1f033b-3f70-458c-b53a-e6bb63cbaef9"
    assert prepare(openedx("passed"), statement_id="6D1F033B-3F70-458C-B53A-E6BB63CBAEF9").id == body["id"].lower()


def test_put_id_must_match_the_body_id() -> None:
    with pytest.raises(StatementError) as caught:
        prepare(openedx("passed"), "statement", statement_id="00000000-0000-4000-8000-000000000000")
    assert caught.value.field == "statement.id"


def test_derived_ids_are_stable_across_resends_and_differ_by_event() -> None:
    first, second = moodle_batch(), moodle_batch()
    second[0]["actor"]["name"] = "Renamed Learner"  # display name is not who the actor is
    second[0]["context"]["registration"] = "00000000-0000-5000-8000-000000000000"  # a new session
    ids = [prepare(b).id for b in first]
    assert [prepare(b).id for b in second] == ids
    assert len(set(ids)) == len(ids)
    later = moodle_batch()[0]
    later["timestamp"] = "2015-06-11T14:31:41.000Z"
    assert prepare(later).id != ids[0]


def test_content_hash_ignores_what_an_lrs_sets() -> None:
    body = openedx("passed")
    stamped = {**body, "stored": "2020-07-15T06:37:00Z", "authority": {"mbox": "mailto:lrs@x.example"},
               "version": "1.0.0"}
    assert prepare(stamped).content_hash == prepare(body).content_hash
    changed = {**body, "timestamp": "2021-01-01T00:00:00Z"}
    assert prepare(changed).content_hash != prepare(body).content_hash
