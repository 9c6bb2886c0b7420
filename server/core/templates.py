"""Built-in alert texts in Swedish and English, and an organization's overrides of them.

The texts follow the Swedish police's guidance for ongoing lethal violence, "Fly – Sök skydd –
Larma 112": flee if you safely can, otherwise take shelter (lock or barricade, lights off,
phones silent, away from doors and windows, quiet), call 112 when it is safe, and open for
nobody until the police say so. They are short and imperative because they are read under
stress.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocol import messages
from protocol.vocabulary import Kind, Language, Mode

MAX_TEXT_LENGTH = 500
OVERRIDE_KEYS = ("order_sv", "order_en", "instructions_sv", "instructions_en")


@dataclass(frozen=True, slots=True, kw_only=True)
class Texts(messages.Texts):
    """One text in both languages — the protocol's `Texts` (its fields are defined there
    once), with what the core does with one."""

    def get(self, language: Language) -> str:
        """The text in `language`."""
        return self.sv if language == Language.SV else self.en

    def as_dict(self) -> dict[str, str]:
        """JSON-friendly form: {"sv": ..., "en": ...}."""
        return {"sv": self.sv, "en": self.en}

    def stripped(self) -> "Texts":
        """The same texts without surrounding whitespace."""
        return Texts(sv=self.sv.strip(), en=self.en.strip())


@dataclass(frozen=True)
class KindTemplate:
    """Name, default order and default instructions of one alert kind."""

    kind: Kind
    name: Texts
    order: Texts
    instructions: Texts


def _lines(*lines: str) -> str:
    return "\n".join(lines)


_LOCKDOWN = KindTemplate(
    kind=Kind.PDV_LOCKDOWN,
    name=Texts(sv="inrymning", en="lockdown"),
    order=Texts(sv="INRYMNING – lås in er och göm er", en="LOCKDOWN – lock in and hide"),
    instructions=Texts(
        sv=_lines(
            "Fly om du kan göra det säkert – annars sök skydd.",
            "Lås eller barrikadera dörren. Släck lampan.",
            "Stäng av ljudet på telefonen. Var helt tyst.",
            "Håll dig borta från dörrar och fönster, håll dig lågt.",
            "Ring 112 när det är säkert.",
            "Öppna inte för någon förrän polisen säger det.",
        ),
        en=_lines(
            "Flee if you can do so safely – otherwise take shelter.",
            "Lock or barricade the door. Turn off the lights.",
            "Silence your phone. Stay completely quiet.",
            "Keep away from doors and windows, stay low.",
            "Call 112 when it is safe.",
            "Do not open for anyone until the police tell you to.",
        ),
    ),
)

_EVACUATE = KindTemplate(
    kind=Kind.EVACUATE,
    name=Texts(sv="utrymning", en="evacuation"),
    order=Texts(sv="UTRYMNING – lämna byggnaden nu", en="EVACUATE – leave the building now"),
    instructions=Texts(
        sv=_lines(
            "Gå ut närmaste säkra väg, bort från hotet.",
            "Använd inte vägen där hotet finns.",
            "Lämna dina saker. Ta med eleverna.",
            "Gå till återsamlingsplatsen.",
            "Ring 112 när du är i säkerhet.",
        ),
        en=_lines(
            "Leave by the nearest safe way, away from the threat.",
            "Do not use the route where the threat is.",
            "Leave your things. Take the students with you.",
            "Go to the assembly point.",
            "Call 112 when you are safe.",
        ),
    ),
)

_SECURE = KindTemplate(
    kind=Kind.SECURE,
    name=Texts(sv="utestängning", en="secure the building"),
    order=Texts(
        sv="UTESTÄNGNING – lås alla ytterdörrar",
        en="SECURE THE BUILDING – lock all outer doors",
    ),
    instructions=Texts(
        sv=_lines(
            "Lås alla ytterdörrar nu.",
            "Ingen går in eller ut.",
            "Håll eleverna inomhus och borta från fönster.",
            "Fortsätt lugnt inomhus.",
            "Följ nya besked i larmet.",
        ),
        en=_lines(
            "Lock all outer doors now.",
            "Nobody goes in or out.",
            "Keep the students indoors and away from windows.",
            "Carry on calmly indoors.",
            "Follow new orders in this alert.",
        ),
    ),
)

_CUSTOM = KindTemplate(
    kind=Kind.CUSTOM,
    name=Texts(sv="eget larm", en="custom alert"),
    order=Texts(sv="", en=""),  # always written by whoever triggers the alert
    instructions=Texts(
        sv=_lines(
            "Följ ordern ovan.",
            "Håll dig lugn och hjälp eleverna.",
            "Ring 112 om någon är i fara.",
            "Följ nya besked i larmet.",
        ),
        en=_lines(
            "Follow the order above.",
            "Stay calm and help the students.",
            "Call 112 if anyone is in danger.",
            "Follow new orders in this alert.",
        ),
    ),
)

BUILT_IN: Mapping[Kind, KindTemplate] = MappingProxyType(
    {t.kind: t for t in (_LOCKDOWN, _EVACUATE, _SECURE, _CUSTOM)}
)

DRILL_LABEL = Texts(sv="ÖVNING", en="DRILL")
TEST_LABEL = Texts(sv="TEST", en="TEST")
RESOLVED_TEXT = Texts(sv="Faran över", en="All clear")
CANCELLED_TEXT = Texts(
    sv="Falsklarm – larmet är återkallat", en="False alarm – the alert is withdrawn"
)

# Push notifications (server/dispatch/messages.py): a test alert asks nothing of anyone, and a
# drill that a real alert superseded must never read as "false alarm".
TEST_NOTICE = Texts(
    sv="Test av larmsystemet – ingen åtgärd", en="Test of the alert system – no action"
)
TEST_ENDED_TEXT = Texts(sv="Testet är avslutat – ingen åtgärd", en="The test is over – no action")
SUPERSEDED_TEXT = Texts(
    sv="Övningen är avbruten – ett skarpt larm har utlösts",
    en="The drill is stopped – a real alert has been triggered",
)


def mode_label(mode: Mode) -> Texts | None:
    """The prefix every client shows for `mode`: ÖVNING/DRILL, TEST, or None for actual."""
    if mode == Mode.DRILL:
        return DRILL_LABEL
    if mode == Mode.TEST:
        return TEST_LABEL
    return None


def _allowed_keys(kind: Kind) -> tuple[str, ...]:
    # The order of a custom alert is written when it is triggered, never taken from a default.
    if kind == Kind.CUSTOM:
        return ("instructions_sv", "instructions_en")
    return OVERRIDE_KEYS


def _usable(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        return None
    return text


def template_for(
    kind: Kind, *, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> KindTemplate:
    """The built-in template of `kind` with the organization's overrides applied.

    Unknown kinds and keys, and values `validate_overrides` would reject, are ignored: a
    stored document that went bad must never stop an alert from being triggered.
    """
    kind = Kind(kind)
    base = BUILT_IN[kind]
    raw = (overrides or {}).get(kind.value)
    if not isinstance(raw, Mapping):
        return base
    found = {key: _usable(raw.get(key)) for key in _allowed_keys(kind)}

    def pick(key: str, default: str) -> str:
        return found.get(key) or default

    return KindTemplate(
        kind=kind,
        name=base.name,
        order=Texts(
            sv=pick("order_sv", base.order.sv),
            en=pick("order_en", base.order.en),
        ),
        instructions=Texts(
            sv=pick("instructions_sv", base.instructions.sv),
            en=pick("instructions_en", base.instructions.en),
        ),
    )


def _validate_kind_overrides(kind: Kind, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"overrides for {kind.value!r} must be an object")
    allowed = _allowed_keys(kind)
    result: dict[str, str] = {}
    for key, text in value.items():
        if key not in allowed:
            raise ValueError(
                f"unknown key {key!r} for {kind.value!r}; allowed: {', '.join(allowed)}"
            )
        if not isinstance(text, str):
            raise ValueError(f"{kind.value}.{key} must be a string")
        text = text.strip()
        if not text:
            raise ValueError(f"{kind.value}.{key} must not be blank")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(
                f"{kind.value}.{key} is {len(text)} characters; at most {MAX_TEXT_LENGTH}"
            )
        result[key] = text
    return result


def validate_overrides(doc: object) -> dict[str, dict[str, str]]:
    """Check an organization's override document and return it normalized (texts stripped).

    Shape: {"<kind>": {"order_sv"|"order_en"|"instructions_sv"|"instructions_en": str}}.
    Raises ValueError naming the first problem: not an object, unknown kind or key, a value
    that is not a string, blank, or longer than MAX_TEXT_LENGTH. A custom alert's order can't
    be overridden: it is always written when the alert is triggered.
    """
    if not isinstance(doc, Mapping):
        raise ValueError("overrides must be an object keyed by alert kind")
    kinds = {k.value: k for k in Kind}
    result: dict[str, dict[str, str]] = {}
    for name, value in doc.items():
        if name not in kinds:
            raise ValueError(f"unknown alert kind {name!r}; allowed: {', '.join(kinds)}")
        result[name] = _validate_kind_overrides(kinds[name], value)
    return result
