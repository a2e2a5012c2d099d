"""A JSON parser that answers 400, not 500, for input Python's json module cannot handle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """Parse JSON, refusing documents nested too deeply for the decoder (a RecursionError otherwise).

    Body size is limited before any parser runs, by config.middleware.RequestSizeLimitMiddleware.
    """

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
