"""HTML pages of the surveys app: the builder and the respondent pages."""
