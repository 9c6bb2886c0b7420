"""`python -m desktop_client`: the same as `pdv-alert-desktop`."""

from desktop_client.app import main

raise SystemExit(main())
