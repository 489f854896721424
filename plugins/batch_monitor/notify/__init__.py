"""E-mail: render alerts (render.py), deliver them through a channel (channels.py) from the
store's outbox (sender.py), and tell on-call when the monitor itself fails (failure.py).

Only channels.py and failure.py import Airflow; rendering is pure.
"""
