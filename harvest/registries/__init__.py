"""Trial registries: ClinicalTrials.gov API v2."""
