"""FastAPI dependencies: the app's settings, model manager and metrics.

They are ``async`` so FastAPI calls them on the event loop, not through its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.metrics import Metrics
from service.models import ModelManager
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_model_manager(request: Request) -> ModelManager:
    return request.app.state.manager


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[ModelManager, Depends(get_model_manager)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
