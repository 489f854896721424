"""Messages: render alerts and the daily digest (render.py, digest.py, messages.py for the chat
channels), deliver them through the workflow's channels (channels.py: SMTP; slack.py; apprise_channel.py)
from the store's outbox (sender.py), and tell on-call when the monitor itself fails (failure.py).

Only the channels and failure.py import Airflow (the channels when they send); rendering is pure.
"""
