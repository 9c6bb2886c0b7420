"""The desktop client's version, sent in `hello.client.version` and at enrollment."""

VERSION = "0.1.0"
CLIENT_NAME = "pdv-alert-desktop"
