"""The use cases. A service function checks permissions with `server.core.permissions`, lets
`server.core` decide, writes through `server.storage` repositories, commits once, and then
tells the post-commit sink (`server.services.sink.EventSink`). Routers and the CLI only
translate to and from HTTP and the command line; repositories never commit and never check
permissions."""
