"""Entry point of `pdv-alert-desktop`. The tray client is not built yet (see the issue
tracker); until then the command says so plainly instead of failing with a traceback."""

import sys


def main() -> int:
    print(
        "pdv-alert-desktop: skrivbordsklienten är inte byggd ännu "
        "(the desktop tray client is not built yet).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
