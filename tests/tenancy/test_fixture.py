"""The wall fixture builds what the tenancy tests rely on."""
from __future__ import annotations

from tests.tenancy.conftest import Wall


def test_both_sides_are_furnished_and_signed_in(wall: Wall) -> None:
    for side in (wall.a, wall.b):
        assert side.admin.get("/account").status_code == 200
    assert wall.a.org_id != wall.b.org_id and wall.a.tile_id != wall.b.tile_id
