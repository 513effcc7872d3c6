"""The process's Wix client as a FastAPI dependency, so tests can swap in one talking to the fake Wix."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from worker.runtime.providers import configured_wix
from worker.wix.client import WixClient


def wix_for_request() -> WixClient | None:
    """The process's Wix client (None without Wix credentials); tests override this dependency."""
    return configured_wix()


Wix = Annotated[WixClient | None, Depends(wix_for_request)]
