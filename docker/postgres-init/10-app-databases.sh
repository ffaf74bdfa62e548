#!/usr/bin/env bash
# Airflow's and Metabase's own databases, beside the warehouse, each owned by its own
# login so neither application can touch the warehouse or the other's tables.
# The postgres image runs this once, when the warehouse volume is first initialised;
# passwords come from the environment (.env), handed to psql as variables.
set -euo pipefail

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v metabase_password="$METABASE_DB_PASSWORD" <<'SQL'
create role airflow login password :'airflow_password';
create database airflow owner airflow;
revoke all on database airflow from public;

create role metabase login password :'metabase_password';
create database metabase owner metabase;
revoke all on database metabase from public;
SQL
