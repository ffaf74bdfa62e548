# The project's own image: Airflow 3 + dbt + the pipeline code, used by every
# Airflow service in docker-compose.yml.
FROM python:3.11.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/customer360/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DO_NOT_TRACK=1

WORKDIR /opt/customer360
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock

COPY src/ src/
COPY dags/ dags/
COPY dbt_project/ dbt_project/
RUN pip install --no-cache-dir --no-deps -e .

# The runtime user (c360, uid 1000) owns what it writes: Airflow's home (logs, the admin password file),
# dbt's target folder, and the data and reports folders (volumes in docker-compose.yml
# take these owners when first created).
RUN useradd --uid 1000 --create-home c360 \
    && mkdir -p "$AIRFLOW_HOME/logs" "$AIRFLOW_HOME/auth" data reports \
    && chown -R 1000:1000 "$AIRFLOW_HOME" dbt_project data reports

USER 1000
