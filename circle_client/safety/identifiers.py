"""National ID numbers, recognised by format and, where the scheme has one, by check digit.

A check digit turns "nine digits" into "nine digits that a registry could have issued", which is
what keeps large numbers, order references and scores from being mistaken for an ID. Formats
without a check digit (a German tax ID, a passport) count only after words that name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _us_ssn(match: str) -> bool:
    """US Social Security number: area not 000, 666 or 9xx; group and serial not zero."""
    d = _digits(match)
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _uk_ni(match: str) -> bool:
    """UK National Insurance number: two letters (a few pairs never issued), six digits, A-D."""
    prefix = match[:2].upper()
    return prefix not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


def _es_dni(match: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z + 7 digits) with its check letter."""
    text = re.sub(r"[\s-]", "", match).upper()
    body = str("XYZ".index(text[0])) + text[1:-1] if text[0] in "XYZ" else text[:-1]
    return _DNI_LETTERS[int(body) % 23] == text[-1]


def _fr_nir(match: str) -> bool:
    """French social security number (NIR): 13 digits and a key of 97 - (number mod 97)."""
    d = _digits(match)
    return len(d) == 15 and 97 - int(d[:13]) % 97 == int(d[13:])


_FORMATS: list[tuple[re.Pattern[str], Callable[[str], bool]]] = [
    (re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), _us_ssn),
    (
        re.compile(
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE
        ),
        _uk_ni,
    ),
    (re.compile(r"\b(?:\d{8}|[XYZ]\d{7})[- ]?[A-Z]\b", re.IGNORECASE), _es_dni),
    (re.compile(r"(?<!\d)[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)"), _fr_nir),
]
_NAMED = re.compile(
    r"\b(?:ssn|social security|social insurance|sin|national insurance|ni number|nino|nhs number|"
    r"passport|driv\w* licen[cs]e|licen[cs]e number|tax id|tax number|steuer-?id|"
    r"steuernummer|steuer-identifikationsnummer|personalausweis|sozialversicherungsnummer|ahv|"
    r"dni|nie|nif|nuss|numero de la seguridad social|securite sociale|secu|nir|numero fiscal|"
    r"aadhaar|bsn|pps|medicare|cpf|curp|rfc|personnummer|codice fiscale|id number|id card)\b"
    r"[^\d\n]{0,25}[A-Z]{0,2}\d[\d \-.]{4,18}\d",
    re.IGNORECASE,
)


_NAMES = frozenset(
    """ssn social sin national ni nino nhs passport licence license tax steuer steuernummer
    personalausweis sozialversicherungsnummer ahv dni nie nif nuss seguridad securite secu nir
    fiscal aadhaar bsn pps medicare cpf curp rfc personnummer fiscale id""".split()
)


def national_id(text: str, words: set[str]) -> bool:
    """Whether the text shows a national ID number (a check digit, or named as one).

    ``text`` is folded (``text.fold``); ``words`` are the draft's words, to skip the search for
    an ID's name when none is there.
    """
    for pattern, valid in _FORMATS:
        for match in pattern.finditer(text):
            if valid(match.group(0)):
                return True
    return not words.isdisjoint(_NAMES) and bool(_NAMED.search(text))
