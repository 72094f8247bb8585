"""Demo-only pages (HUB_SANDBOXES=1): the mailbox, since the demo sends no real mail."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from hub import db
from hub.models import MailMessage

bp = Blueprint("demo", __name__, url_prefix="/demo")


@bp.get("/mailbox")
def mailbox() -> str:
    """What the hub would have mailed, newest first (one-time confirmation links live here in the demo)."""
    messages = db.session().scalars(select(MailMessage).order_by(MailMessage.id.desc()).limit(50))
    return render_template("demo/mailbox.html", messages=list(messages))
