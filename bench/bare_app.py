"""The ceiling a service is compared with: a bare FastAPI app outside the project, one route
that returns a constant (``bench.distill_benchmark serve`` runs it under uvicorn)."""

from fastapi import FastAPI

app = FastAPI()
ANSWER = {"label": "positive", "confidence": 0.9}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/classify")
async def classify() -> dict[str, object]:
    return ANSWER
