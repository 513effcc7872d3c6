"""Serving the widget's bytes: `widget.js` read once and kept compressed (gzip and brotli), the encoding
`Accept-Encoding` asks for, and ETags (`If-None-Match` answers 304) for the script and for the public
content's JSON."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
from fastapi import Request
from fastapi.responses import Response

from worker.web.errors import ApiError

logger = logging.getLogger(__name__)

SCRIPT_PATH = Path(__file__).resolve().parent / "static" / "widget.js"
SCRIPT_MAX_AGE = 300
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class WidgetScript:
    """The script's bytes, read once, and their compressed forms."""

    identity: bytes
    gzip: bytes
    brotli: bytes
    hash: str  # the first 16 hex digits of the SHA-256

    @classmethod
    def load(cls, path: Path) -> WidgetScript | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            logger.warning("widget.js is not available: its route answers 503", extra={"reason": str(exc)})
            return None
        return cls(
            identity=data,
            gzip=gzip.compress(data, compresslevel=9, mtime=0),
            brotli=brotli.compress(data, quality=11),
            hash=hashlib.sha256(data).hexdigest()[:16],
        )


def accepted_encodings(header: str) -> set[str]:
    """The codings `Accept-Encoding` accepts (q > 0); `*` stands for any."""
    accepted = set()
    for part in header.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding and quality > 0:
            accepted.add(coding.lower())
    return accepted


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of `If-None-Match` against our ETag."""
    if not if_none_match:
        return False
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def installed_script(request: Request, script_hash: str | None = None) -> WidgetScript:
    """The script read at start-up (503 when there is none); with `script_hash`, 404 unless it is the
    script's."""
    script: WidgetScript | None = request.app.state.widget_script
    if script is None:
        raise ApiError(503, "unavailable", "widget.js is not installed on this server")
    # Compared as bytes: `compare_digest` refuses str with non-ASCII characters (TypeError, a 500).
    if script_hash is not None and not hmac.compare_digest(script_hash.encode(), script.hash.encode()):
        raise ApiError(404, "not_found", f"no widget script with hash {script_hash[:32]!r}")
    return script


def script_response(request: Request, script: WidgetScript, cache_control: str) -> Response:
    """The script in the best encoding the client accepts, or 304 when its ETag matches."""
    etag = f'W/"{script.hash}"'
    headers = {"cache-control": cache_control, "etag": etag, "vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    accepted = accepted_encodings(request.headers.get("accept-encoding", ""))
    body = script.identity
    if "br" in accepted:
        body, headers["content-encoding"] = script.brotli, "br"
    elif "gzip" in accepted or "*" in accepted:
        body, headers["content-encoding"] = script.gzip, "gzip"
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


def cached_json(request: Request, content: Any, max_age: int) -> Response:
    """Public JSON with a strong ETag of its canonical bytes, or 304 when `If-None-Match` matches."""
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"etag": etag, "cache-control": f"public, max-age={max_age}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
