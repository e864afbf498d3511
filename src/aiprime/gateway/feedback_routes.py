"""The feedback route: `POST /v1/feedback` records the right fine class of a logged request (permission
`feedback`, held by operators and the roles above them), for the next retrain of the gate and the experts.

Like every gateway call it is rate-limited and audited by the middleware. The label is stored by
`aiprime.drift.feedback.record` with the request id, the caller's name and the gate's logged row.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from aiprime.drift import feedback
from aiprime.gateway.auth import Caller
from aiprime.gateway.routes import ERRORS, require, runtime

PERMISSION = "feedback"
Labeller = Annotated[Caller, Depends(require(PERMISSION))]
router = APIRouter(responses=ERRORS, tags=["feedback"])


class FeedbackRequest(BaseModel):
    """The right answer for a request the gateway served."""

    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The x-request-id the gateway answered the request with."
    )
    label: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The right fine class, a WordNet lexicographer class such as noun.animal; a label that "
        "is not one is refused with 422, naming the valid ones.",
        json_schema_extra=lambda schema: schema.update(enum=list(feedback.labels())),  # read when asked
    )


class FeedbackOut(BaseModel):
    """A stored label."""

    id: int
    request_id: str
    principal: str = Field(description="Who gave it.")
    label: str
    domain: str = Field(description="The gate's class the label implies.")
    created_at: datetime


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Record the right label of a logged request",
)
async def give_feedback(body: FeedbackRequest, request: Request, caller: Labeller) -> FeedbackOut:
    """Store the caller's label for a request; 404 for a request id the gate never logged, 422 for a label
    that is not a class, 409 when the caller labelled this request already (nothing is stored twice)."""
    engine = runtime(request).engine
    stored = await run_in_threadpool(feedback.record, engine, body.request_id, caller.name, body.label)
    return FeedbackOut(**asdict(stored))
