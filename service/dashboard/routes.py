"""The web dashboard's routes: pages at / and /jobs/{id}, the data they poll under
/dashboard/, and their static files (Plotly included) under /dashboard/static/.

No external assets, so the dashboard works on a machine without internet access.
"""

from __future__ import annotations

from fastapi import APIRouter

from service.dashboard import assets, data, pages

router = APIRouter(tags=["dashboard"])
router.include_router(pages.router)
router.include_router(data.router)
router.include_router(assets.router)
