"""The Qt presentation of the desktop client: the only package that imports PySide6. It renders
the views of `desktop_client.views` and plays the bundled sounds."""
