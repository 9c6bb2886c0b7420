"""The push dispatcher: follows each organization's event log from a durable cursor, expands
every event into one delivery per targeted push device, and sends the due deliveries through
the `push/` senders, retrying on the emergency schedule (server/core/push_schedule.py)."""
