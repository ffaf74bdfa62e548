"""Landing-file ingestion: contracts (`ingestion.contracts`), tables (`ingestion.tables`)
and the COPY loader (`ingestion.loader.load_interval`, CLI `python -m ingestion`)."""
