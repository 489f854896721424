# Astro Runtime image for Airflow 3.3 (Astro CLI: `astro dev start`, `astro deploy`).
# The runtime's ONBUILD steps install requirements.txt and packages.txt and copy the project
# (dags/, plugins/, include/) into /usr/local/airflow.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

# Where the monitor finds its workflow files, SQL and mail templates inside the image.
ENV BATCH_MONITOR_INCLUDE_DIR=/usr/local/airflow/include
