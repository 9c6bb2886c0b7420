"""Realtime: the WebSocket gateway, the per-node hub that fans events out, and the bus that
wakes the other nodes. The database is the record; the bus only signals."""
