"""Pure, synchronous core: alert state machine, permissions, templates and the audit chain."""
