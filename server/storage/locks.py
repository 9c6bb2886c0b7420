"""Every PostgreSQL advisory lock pdv-alert takes, by name: one table, so two kinds of work
never share a key by accident. 0x70647661 is "pdva"."""

from __future__ import annotations

LOCKS = {
    "migrate": 0x70647661_0001,  # Database.migrate: one node migrates, the others wait
    "presence_sweep": 0x70647661_0002,  # the leader's presence sweep (server/realtime)
}
