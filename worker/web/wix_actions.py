"""`POST /wix/actions/v1/invoke`: Wix automation actions (being written; see issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["wix actions"])
