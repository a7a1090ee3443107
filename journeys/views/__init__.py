"""HTML pages of the journeys app; one module per area."""
