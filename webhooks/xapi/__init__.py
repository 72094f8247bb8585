"""An xAPI statement endpoint, so Moodle's logstore_xapi and Open edX's event-routing-backends post as to an LRS."""
