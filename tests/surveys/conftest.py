from __future__ import annotations

from typing import Any

import pytest

from journeys.services import customer_create
from surveys import services
from surveys.models import Survey


@pytest.fixture
def nps_survey(cx_lead: Any) -> Survey:
    """The NPS template in English and Dutch, active."""
    survey = services.survey_create(
        name="Relationship NPS", kind="nps", default_language="en", languages=["nl"], by=cx_lead
    )
    return services.survey_status_change(survey=survey, status="active", by=cx_lead)


@pytest.fixture
def customer(db: Any) -> Any:
    return customer_create(name="Dirk de Vries", email="dirk@example.nl", language="nl")
