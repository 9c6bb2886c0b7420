import pytest

from protocol.vocabulary import Kind, Language, Mode
from server.core.templates import (
    BUILT_IN,
    CANCELLED_TEXT,
    MAX_TEXT_LENGTH,
    RESOLVED_TEXT,
    KindTemplate,
    Texts,
    mode_label,
    template_for,
    validate_overrides,
)

ACTIONABLE = [Kind.PDV_LOCKDOWN, Kind.EVACUATE, Kind.SECURE]


def test_texts_get_returns_the_requested_language():
    """Texts.get picks Swedish or English."""
    texts = Texts(sv="hej", en="hello")
    assert texts.get(Language.SV) == "hej"
    assert texts.get(Language.EN) == "hello"


def test_texts_as_dict_and_stripped():
    """Texts has a JSON-friendly form and a stripped copy."""
    assert Texts(sv=" a ", en="b\n").stripped() == Texts(sv="a", en="b")
    assert Texts(sv="a", en="b").as_dict() == {"sv": "a", "en": "b"}


def test_every_kind_has_a_built_in_template():
    """BUILT_IN covers every kind and each template names its own kind."""
    assert set(BUILT_IN) == set(Kind)
    for kind, template in BUILT_IN.items():
        assert isinstance(template, KindTemplate)
        assert template.kind == kind


@pytest.mark.parametrize("kind", ACTIONABLE)
def test_actionable_kinds_have_one_line_order_and_short_instructions(kind):
    """Built-in orders are single non-blank lines; instructions are 3–6 short lines."""
    template = BUILT_IN[kind]
    for language in Language:
        order = template.order.get(language)
        assert order.strip() and "\n" not in order
        lines = template.instructions.get(language).split("\n")
        assert 3 <= len(lines) <= 6
        assert all(line.strip() and len(line) <= 80 for line in lines)
        assert len(template.instructions.get(language)) <= MAX_TEXT_LENGTH


def test_lockdown_follows_the_police_guidance():
    """Inrymning tells people to flee if safe, otherwise hide, lock, silence and call 112."""
    template = BUILT_IN[Kind.PDV_LOCKDOWN]
    assert template.order == Texts(
        sv="INRYMNING – lås in er och göm er", en="LOCKDOWN – lock in and hide"
    )
    sv = template.instructions.sv.lower()
    en = template.instructions.en.lower()
    for word in ("fly", "lås", "släck", "ljudet", "112", "polisen"):
        assert word in sv
    for word in ("flee", "lock", "lights", "silence", "112", "police"):
        assert word in en


def test_evacuate_points_away_from_the_threat_to_the_assembly_point():
    """Utrymning says: away from the threat, not its route, to the assembly point."""
    template = BUILT_IN[Kind.EVACUATE]
    assert template.order.sv.startswith("UTRYMNING")
    assert "återsamlingsplatsen" in template.instructions.sv
    assert "assembly point" in template.instructions.en
    assert "away from the threat" in template.instructions.en


def test_secure_locks_the_outer_doors():
    """Utestängning says: lock the outer doors, nobody in or out."""
    template = BUILT_IN[Kind.SECURE]
    assert template.order.sv.startswith("UTESTÄNGNING")
    assert "ytterdörrar" in template.instructions.sv
    assert "Nobody goes in or out" in template.instructions.en


def test_custom_has_no_default_order_but_generic_instructions():
    """A custom alert's order must be written; its instructions have a generic default."""
    template = BUILT_IN[Kind.CUSTOM]
    assert template.order == Texts(sv="", en="")
    assert template.instructions.sv and template.instructions.en


def test_kind_names():
    """Each kind has its Swedish and English name."""
    names = {kind: (t.name.sv, t.name.en) for kind, t in BUILT_IN.items()}
    assert names == {
        Kind.PDV_LOCKDOWN: ("inrymning", "lockdown"),
        Kind.EVACUATE: ("utrymning", "evacuation"),
        Kind.SECURE: ("utestängning", "secure the building"),
        Kind.CUSTOM: ("eget larm", "custom alert"),
    }


def test_mode_labels():
    """Drills are labelled ÖVNING/DRILL, tests TEST, actual alerts not at all."""
    assert mode_label(Mode.DRILL) == Texts(sv="ÖVNING", en="DRILL")
    assert mode_label(Mode.TEST) == Texts(sv="TEST", en="TEST")
    assert mode_label(Mode.ACTUAL) is None


def test_resolved_and_cancelled_texts():
    """All-clear and false-alarm texts exist in both languages."""
    assert RESOLVED_TEXT == Texts(sv="Faran över", en="All clear")
    assert CANCELLED_TEXT == Texts(
        sv="Falsklarm – larmet är återkallat", en="False alarm – the alert is withdrawn"
    )


def test_built_in_is_read_only():
    """BUILT_IN can't be changed by accident at run time."""
    with pytest.raises(TypeError):
        BUILT_IN[Kind.CUSTOM] = BUILT_IN[Kind.SECURE]  # type: ignore[index]


def test_template_for_without_overrides_is_the_built_in():
    """No overrides means the built-in template."""
    assert template_for(Kind.EVACUATE) == BUILT_IN[Kind.EVACUATE]
    assert template_for(Kind.EVACUATE, overrides={}) == BUILT_IN[Kind.EVACUATE]


def test_template_for_applies_a_subset_of_overrides():
    """Overridden keys replace the built-in text (stripped); the others stay."""
    overrides = {"pdv_lockdown": {"order_sv": "  INRYMNING – Hus A  ", "instructions_en": "Hide."}}
    template = template_for(Kind.PDV_LOCKDOWN, overrides=overrides)
    built_in = BUILT_IN[Kind.PDV_LOCKDOWN]
    assert template.order == Texts(sv="INRYMNING – Hus A", en=built_in.order.en)
    assert template.instructions == Texts(sv=built_in.instructions.sv, en="Hide.")
    assert template.name == built_in.name


def test_template_for_ignores_other_kinds_unknown_keys_and_bad_values():
    """Unknown kinds and keys and unusable values never break a template."""
    overrides = {
        "evacuate": {"order_sv": "UT!"},
        "nonsense": {"order_sv": "x"},
        "pdv_lockdown": {
            "order_xx": "x",
            "order_sv": "   ",
            "order_en": 42,
            "instructions_sv": "x" * (MAX_TEXT_LENGTH + 1),
        },
    }
    assert template_for(Kind.PDV_LOCKDOWN, overrides=overrides) == BUILT_IN[Kind.PDV_LOCKDOWN]
    assert template_for(Kind.SECURE, overrides={"secure": "not a mapping"}) == BUILT_IN[Kind.SECURE]


def test_template_for_never_gives_custom_a_default_order():
    """An override can't give a custom alert a default order; its instructions can change."""
    overrides = {"custom": {"order_sv": "x", "order_en": "y", "instructions_sv": "Gör så."}}
    template = template_for(Kind.CUSTOM, overrides=overrides)
    assert template.order == Texts(sv="", en="")
    assert template.instructions.sv == "Gör så."


def test_validate_overrides_accepts_and_normalizes():
    """A valid document is returned with texts stripped."""
    doc = {
        "pdv_lockdown": {"order_sv": " A ", "order_en": "B", "instructions_sv": "1\n2"},
        "custom": {"instructions_en": "C"},
        "secure": {},
    }
    assert validate_overrides(doc) == {
        "pdv_lockdown": {"order_sv": "A", "order_en": "B", "instructions_sv": "1\n2"},
        "custom": {"instructions_en": "C"},
        "secure": {},
    }


def test_validate_overrides_accepts_exactly_the_maximum_length():
    """A text of exactly MAX_TEXT_LENGTH characters is allowed."""
    doc = {"evacuate": {"order_en": "x" * MAX_TEXT_LENGTH}}
    assert validate_overrides(doc) == doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be an object"),
        ("text", "must be an object"),
        (None, "must be an object"),
        ({"fire": {}}, "unknown alert kind 'fire'"),
        ({"evacuate": ["order_sv"]}, "overrides for 'evacuate' must be an object"),
        ({"evacuate": {"title_sv": "x"}}, "unknown key 'title_sv'"),
        ({"evacuate": {"order_sv": 5}}, "evacuate.order_sv must be a string"),
        ({"evacuate": {"order_sv": None}}, "evacuate.order_sv must be a string"),
        ({"evacuate": {"order_sv": " \n "}}, "evacuate.order_sv must not be blank"),
        ({"evacuate": {"order_en": "x" * (MAX_TEXT_LENGTH + 1)}}, "at most 500"),
        ({"custom": {"order_sv": "x"}}, "unknown key 'order_sv' for 'custom'"),
    ],
)
def test_validate_overrides_rejects_bad_documents(doc, message):
    """Wrong shapes, unknown kinds/keys, non-strings, blanks and long texts are refused."""
    with pytest.raises(ValueError, match=message):
        validate_overrides(doc)
