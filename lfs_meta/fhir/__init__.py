"""The index as FHIR: the mapping (pure), content types, and the META/ files init-meta keeps current."""
