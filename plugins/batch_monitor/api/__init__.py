"""The operators' page and JSON API, mounted into Airflow's api-server by plugin.py."""
