"""The pipeline's group roles (NOLOGIN): people and services log in as members of them."""

LOADER = "c360_loader"  # ingestion: raw, quarantine and the load manifest
TRANSFORMER = "c360_transformer"  # every stage after ingestion
