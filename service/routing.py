"""Routing and readiness: which loaded model answers a request, and whether the service is
ready to answer at all."""

from __future__ import annotations

from service.errors import ModelNotFound, ModelUnavailable
from service.loader import LoadedModel, ModelManager


def route(manager: ModelManager, name: str | None, input_type: str) -> LoadedModel:
    """The loaded model to answer with: ``name``, or the route's default for ``input_type``
    (what the route receives: ``text`` or ``image``)."""
    default = manager.settings.default_models().get(input_type)
    if manager.states.get(name or default) is None and (name is None or name == default):
        raise ModelUnavailable(f"no {input_type} model is loaded (expected {default!r})")
    loaded = served(manager, name or default)
    if loaded.modality.input_type != input_type:
        raise ModelNotFound(
            f"no {input_type} model named {loaded.name!r}: it is a {loaded.modality.name} model"
        )
    return loaded


def served(manager: ModelManager, name: str) -> LoadedModel:
    """The version of model ``name`` being served: 404 for an unknown model, 503 if it has
    no version loaded."""
    state = manager.states.get(name)
    if state is None:
        known = ", ".join(sorted(manager.states)) or "none"
        raise ModelNotFound(f"unknown model {name!r} (models: {known})")
    if state.loaded is None:
        raise ModelUnavailable(f"model {state.name!r} is not loaded: {state.error}")
    return state.loaded


def readiness(manager: ModelManager) -> tuple[bool, dict[str, str | None]]:
    """Ready when every model in ``TEXTCNN_MODELS`` is loaded or, without that setting,
    when some model is and no discovered model lacks one because its versions were refused.
    A model without a current version yet (a first publish in progress) is not waited for.
    """
    versions = {
        name: state.loaded.version if state.loaded else None
        for name, state in sorted(manager.states.items())
    }
    if manager.settings.models:
        expected = manager.settings.models
    else:  # discovered: those with a current version that has been tried at least once
        expected = [
            name
            for name, state in manager.states.items()
            if state.loaded is not None or state.refused
        ]
    ready = bool(expected) and all(versions.get(n) for n in expected)
    return ready, versions
