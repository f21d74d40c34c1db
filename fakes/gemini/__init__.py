"""A strict fake of the Gemini Interactions API for offline tests."""

from fakes.gemini.errors import ApiError
from fakes.gemini.records import Record, RecordedRequest
from fakes.gemini.script import Citation, FunctionCall, Reply, ScriptError, SearchCall
from fakes.gemini.server import FakeGemini

__all__ = [
    "ApiError",
    "Citation",
    "FakeGemini",
    "FunctionCall",
    "Record",
    "RecordedRequest",
    "Reply",
    "ScriptError",
    "SearchCall",
]
