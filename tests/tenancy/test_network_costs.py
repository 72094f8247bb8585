"""The deliveries page's costs across the wall: an organisation admin sees only their organisation's posts."""
from __future__ import annotations

import re

from tests.admin.test_network_costs import planned
from tests.tenancy.conftest import Wall


def test_an_organisation_admin_sees_only_their_organisations_costs(wall: Wall) -> None:
    planned(wall.live, wall.a.org_id, "x:me")
    planned(wall.live, wall.b.org_id, "x:me", without_link=True)
    page = wall.a.admin.get("/admin/deliveries")
    assert page.status_code == 200
    costs = re.findall(r'<td class="cost">([^<]*)</td>', page.text)
    assert "$0.20" in costs and "$0.015" not in costs, costs
    other = wall.b.admin.get("/admin/deliveries")
    assert "$0.015" in other.text and "$0.20" not in other.text
