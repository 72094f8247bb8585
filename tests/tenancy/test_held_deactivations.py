"""Held deactivations behind the walls: organisation B's held SCIM deactivation is seen and decided by B's admins
and hub admins only; A's admin neither sees it (banner, page) nor confirms or rejects it (404, nothing changes)."""
from __future__ import annotations

from sqlalchemy import select

from hub.models import DeprovisioningHold, Organisation, User
from tests.live import csrf_token
from tests.scim.conftest import Scim
from tests.tenancy.conftest import Wall


def _hold_b(wall: Wall) -> int:
    """B's guard set to trip at once; B's LMS deactivates B's learner through SCIM: held."""
    with wall.live.context() as session:
        org = session.get(Organisation, wall.b.org_id)
        org.guard_share, org.guard_min = 1, 0
        session.commit()
    answer = Scim(wall.live, wall.b.scim_token)("PATCH", f"/Users/{wall.b.learner_id}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert answer.status_code == 200 and answer.json()["active"] is False, answer.text
    with wall.live.context() as session:
        hold = session.scalar(select(DeprovisioningHold).where(DeprovisioningHold.user_id == wall.b.learner_id))
        assert hold is not None and hold.status == "held"
        return hold.id


def _state(wall: Wall, hold_id: int) -> tuple[str, str]:
    with wall.live.context() as session:
        return str(session.get(DeprovisioningHold, hold_id).status), str(session.get(User, wall.b.learner_id).status)


def test_only_the_organisations_admins_and_hub_admins_see_and_decide(wall: Wall) -> None:
    hold_id = _hold_b(wall)
    a, b = wall.a.admin, wall.b.admin
    for page in ("/admin/users", "/admin/deprovisioning"):
        text = a.get(page).text
        assert 'id="held-deactivations"' not in text and wall.b.learner_email not in text, page
    assert wall.b.org_name not in a.get("/admin/deprovisioning").text
    token = csrf_token(a.get("/account").text)
    for path in (f"/admin/deprovisioning/{hold_id}/confirm", f"/admin/deprovisioning/{hold_id}/reject",
                 f"/admin/orgs/{wall.b.org_id}/deprovisioning/confirm"):
        assert a.post(path, data={"csrf_token": token}).status_code == 404, path
    assert _state(wall, hold_id) == ("held", "active")
    # A's SCIM token cannot reach B's learner to withdraw the hold either.
    answer = Scim(wall.live, wall.a.scim_token)("PATCH", f"/Users/{wall.b.learner_id}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": True}]})
    assert answer.status_code == 404 and _state(wall, hold_id) == ("held", "active")
    # The hub admin sees it in the banner; B's admin sees it and confirms it.
    assert f"{wall.b.org_name}: 1 held" in wall.hub_admin.get("/admin/users").text
    page = b.get("/admin/users").text
    assert f"{wall.b.org_name}: 1 held" in page and wall.a.org_name not in b.get("/admin/deprovisioning").text
    answer = b.post(f"/admin/deprovisioning/{hold_id}/confirm", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 303 and _state(wall, hold_id) == ("confirmed", "disabled")
    assert 'id="held-deactivations"' not in b.get("/admin/users").text
