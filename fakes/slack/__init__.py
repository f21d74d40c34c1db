"""A strict, stateful fake of Slack (Web API, files, response_url) plus a signed event sender."""

from .events import Delivery, EventSender
from .models import Call, Channel, Ephemeral, Message, ResponseRecord, SlackError, User
from .server import FakeSlack
from .view import VisibleMessage

__all__ = [
    "Call",
    "Channel",
    "Delivery",
    "Ephemeral",
    "EventSender",
    "FakeSlack",
    "Message",
    "ResponseRecord",
    "SlackError",
    "User",
    "VisibleMessage",
]
