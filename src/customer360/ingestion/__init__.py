"""Landing-file ingestion: contracts (`customer360.ingestion.contracts`), tables (`customer360.ingestion.tables`)
and the COPY loader (`customer360.ingestion.loader.load_interval`, CLI `python -m customer360.ingestion`)."""
