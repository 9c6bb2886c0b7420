"""The core's exception tree; each error carries a stable machine code.

    CoreError
    ├── Forbidden              auth.forbidden
    ├── AlertNotActive         alert.not_active
    ├── NoSites                alert.no_sites
    ├── CustomTextRequired     alert.custom_text_required
    ├── NothingToUpdate        alert.nothing_to_update
    └── TextTooLong            alert.text_too_long

The API layer maps `code` to an HTTP status and a Swedish/English message; `detail` is for
logs and developers, never shown to users as the only explanation.
"""


class CoreError(Exception):
    """Base of every error the core raises on purpose."""

    code: str = "core.error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class Forbidden(CoreError):
    """The actor may not perform this action here."""

    code = "auth.forbidden"


class AlertNotActive(CoreError):
    """Update, resolve or cancel of an alert that is already resolved or cancelled."""

    code = "alert.not_active"


class NoSites(CoreError):
    """A trigger named no site."""

    code = "alert.no_sites"


class CustomTextRequired(CoreError):
    """A custom alert needs an order text in both Swedish and English."""

    code = "alert.custom_text_required"


class NothingToUpdate(CoreError):
    """An update that would change nothing."""

    code = "alert.nothing_to_update"


class TextTooLong(CoreError):
    """An order or instructions text is longer than allowed in some language."""

    code = "alert.text_too_long"
