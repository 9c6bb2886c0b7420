"""Local stand-ins for the push services, speaking their real protocols (tests and the demo)."""
