"""What in a draft could identify the writer (F14): checked locally before sending.

Phone numbers are validated with ``phonenumbers`` (libphonenumber's metadata) for the person's
region, taken from the locale unless the client sets one, and for a few common regions when the
number has a trunk prefix, a "+" or a word such as "call" or "número" beside it (the region can
be set with ``CIRCLE_REGION``, e.g. ``CIRCLE_REGION=ES``); helplines
(toll-free and shared-cost numbers) are not personal and are let through. E-mail addresses are
found also when written out ("sam at gmail dot com"), national ID numbers by check digit or by
name (``identifiers``), street addresses in English, German, Dutch, Nordic, Spanish and French
forms, profile handles only where a platform is named, and names only where they look like one.
"""

from __future__ import annotations

import locale
import os
import re

import phonenumbers
from phonenumbers import PhoneNumberType

from circle_client.safety.identifiers import national_id
from circle_client.safety.text import fold

REGION_SETTING = "CIRCLE_REGION"
FALLBACK_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "IE", "MX", "AR")
_NOT_PERSONAL = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.UAN,
}
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d \t().-]{5,22}\d(?![\w])")
_NANP = re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ ,.]\d{3})+")
_PHONE_WORDS = frozenset(
    """phone number numbers call ring text txt whatsapp signal telegram cell mobile tel telephone
    reach contact numero telefono movil celular llamame llama llamar nummer telefon handy ruf
    anrufen erreichbar portable appelle appeler appelez joindre""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"\d+")
_APOSTROPHES = str.maketrans({c: "'" for c in "’‘ʼ"})

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AT_WORDS = frozenset({"at", "arroba", "arobase", "chez"})
_AT_WORD = re.compile(r"\b(?:at|arroba|arobase|chez)\b")
_DOT = r"(?:\s*[\[(]?\s*(?:dot|punto|punkt|point)\s*[\])]?\s*|\.)"
_AT = r"\s*[\[(]?\s*(?:at|arroba|arobase|chez)\s*[\])]?\s*"
_PROVIDERS = (
    r"gmail|googlemail|hotmail|outlook|live|msn|yahoo|icloud|me|proton|protonmail|pm|gmx|web|"
    r"orange|free|laposte|sfr|wanadoo|aol|mail|yandex|t-online|libero|posteo|tutanota|fastmail"
)
_TLD = r"(?:com|org|net|edu|gov|io|me|co|uk|de|fr|es|it|nl|be|ch|at|ca|au|mx|ar|cl|info|eu|ie|pt)"
_WRITTEN_EMAIL = re.compile(
    rf"\b[a-z0-9][\w+-]*(?:{_DOT}[a-z0-9][\w+-]*)*{_AT}"
    rf"(?:(?:{_PROVIDERS})(?:{_DOT}[a-z]{{2,10}})*|[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*"
    rf"(?:\s*[\[(]?\s*(?:dot|punto|punkt|point)\s*[\])]?\s*){_TLD})\b"
)

_PLATFORMS = (
    r"insta|instagram|ig|tiktok|tik tok|snap|snapchat|twitter|threads|bsky|bluesky|discord|"
    r"telegram|reddit|youtube|twitch|mastodon|facebook|fb|linkedin|kik|handle|username|user name"
)
_PLATFORM_WORDS = frozenset(
    """insta instagram ig tiktok tik snap snapchat twitter threads bsky bluesky discord telegram
    reddit youtube twitch mastodon facebook fb linkedin kik handle username user x github
    pinterest tumblr""".split()
)
_PROFILE_URL = re.compile(
    r"(?:https?://)?(?:www\.)?(?:facebook|fb|instagram|twitter|x|tiktok|linkedin|snapchat|reddit|"
    r"github|youtube|threads|bsky|twitch|pinterest|tumblr)\.(?:com|app|me|net)/[\w@.-]+",
    re.IGNORECASE,
)
_HANDLE_THEN_PLATFORM = re.compile(
    rf"(?<![\w@])@[\w.]{{3,}}\s+(?:on|in|en|auf|sur)\s+(?:{_PLATFORMS})\b", re.IGNORECASE
)
_PROFILE_HANDLE = re.compile(
    rf"\b(?:{_PLATFORMS})\b[^\n@]{{0,20}}?(?:@[\w.]{{3,}}|"
    rf"(?:is|es|ist|est|c'est|:)\s+@?(?=[\w.]*[\d_.])[\w.]{{3,}}|\w{{2,}}#\d{{4}})",
    re.IGNORECASE,
)

_EN_TYPES = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|place|pl|boulevard|blvd|"
    r"terrace|crescent|grove|gardens|square|sq|parade|row|hill|mews|walk|highway|hwy|parkway"
)
_ADDRESSES = [
    re.compile(
        rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:(?:[A-Z][\w'-]*|\d+(?:st|nd|rd|th))\s+){{1,3}}"
        rf"(?i:{_EN_TYPES})\b\.?"
    ),
    re.compile(
        rf"(?i:\b(?:live at|live on|living at|address is|address:|my house is|my flat is|"
        rf"my place is|moved to|send it to|come to)\s+\d{{1,5}}[a-z]?,?\s+(?:[a-z][\w'-]*\s+)"
        rf"{{1,3}}(?:{_EN_TYPES})\b)"
    ),
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"),  # UK postcode
    re.compile(
        r"(?i:\b(?:zip|zip code|postcode|post code|postal code|code postal|codigo postal|"
        r"código postal|plz|postleitzahl)\b\W{0,3}(?:is|es|ist|est|:)?\s*)"
        r"[A-Z]{0,2}\d[\dA-Z -]{2,8}"
    ),
    re.compile(
        r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|"
        r"straat|gracht|laan|plein|vej|gade|gatan|vägen|gata)\s+\d{1,4}[a-z]?\b"
    ),
    re.compile(r"(?i:\b\w+(?:straße|strasse)\s+\d{1,4}[a-z]?\b)"),
    re.compile(r"\b[A-ZÄÖÜ][\wäöüß-]+\s+(?:Straße|Strasse|Weg|Allee|Platz|Gasse|Ring)\s+\d{1,4}\b"),
    re.compile(
        r"(?i:\b(?:calle|c/|avenida|avda\.?|av\.|paseo|plaza|camino|carrera|ronda|traves[ií]a|"
        r"pasaje|glorieta)\s+(?:del\s+|de\s+(?:la\s+|los\s+|las\s+)?)?)"
        r"(?:(?:[A-ZÁÉÍÓÚÑ][\wÀ-ÿ]*\s+){1,3}|[\wÀ-ÿ]+\s+),?\s*(?:n[º°o]\.?\s*)?\d{1,4}\b"
    ),
    re.compile(
        r"(?i:\b\d{1,4}\s*(?:bis|ter)?,?\s+(?:rue|avenue|boulevard|bd|impasse|all[ée]e|quai|chemin)"
        r"\s+(?:de\s+la\s+|de\s+l'|du\s+|des\s+|de\s+|d')?)[\wÀ-ÿ'-]+"
    ),
    re.compile(r"(?i:\b\d{1,4},?\s+(?:place|route|cours|square)\s+)(?:du |de |des )?[A-ZÀ-Ý]"),
    re.compile(r"\b\d{5}\s+[A-ZÄÖÜÉ][a-zäöüßéèàç-]{2,}\b"),  # postcode + town (DE, FR, ES, IT)
    re.compile(
        r"(?i:\b(?:wohne|wohnen|adresse:?|adresse ist)\s+(?:am|an der|im|in der|auf dem|zum|zur)"
        r"\s+\w+\s+\d{1,4}[a-z]?\b)"
    ),
    re.compile(r"\b\d{1,5}\s+[A-Z][a-z]+(?:way|gate|side|field|wood|bury)\b"),  # 33 Kingsway
    re.compile(r"(?i:\b(?:flat|apt\.?|apartment)\s+)\d{1,4}[a-z]?\b"),
]

_EN_TYPE_WORDS = frozenset(_EN_TYPES.split("|"))
_DE_SUFFIXES = (
    "strasse",
    "str.",
    "weg",
    "gasse",
    "platz",
    "allee",
    "damm",
    "ufer",
    "chaussee",
    "straat",
    "gracht",
    "laan",
    "plein",
    "vej",
    "gade",
    "gatan",
    "vagen",
    "gata",
    "ring",
)
_ADDRESS_CUES: list[frozenset[str] | tuple[str, ...] | None] = [
    _EN_TYPE_WORDS,
    _EN_TYPE_WORDS,
    None,
    frozenset("zip postcode post postal code codigo plz postleitzahl".split()),
    _DE_SUFFIXES,
    _DE_SUFFIXES,
    _DE_SUFFIXES,
    frozenset("calle c avenida avda av paseo plaza camino carrera ronda travesia pasaje".split())
    | {"glorieta"},
    frozenset("rue avenue boulevard bd impasse allee quai chemin".split()),
    frozenset("place route cours square".split()),
    None,
    frozenset({"wohne", "wohnen", "adresse"}),
    None,
    frozenset({"flat", "apt", "apartment"}),
]
"""For each pattern in ``_ADDRESSES``, the words (or parts of words) without which it cannot
match; a draft without them skips the pattern."""
_NAME_STOP = frozenset(
    """a an the not no nothing irrelevant unimportant important private secret on in at from with
    when if back later anytime any maybe now please sometime that this what whatever so just really
    very fine ok okay good well here new sorry glad happy sad tired done still also always never la
    el lo los las le les un une una como comme asi ici nicht egal nur der die das ein
    eine""".split()
)
_NAME_STRONG = re.compile(
    r"(?i:\b(?:my (?:real |full |first |last )?name is|my (?:real |full )?name's|i'm called|"
    r"i am called|mi nombre es|me llamo|mein name ist|ich hei(?:ß|ss)e|je m'appelle|"
    r"mon nom (?:est|c'est)|moi c'est)\s+)([^\W\d_][\w'-]*)"
)
_NAME_WORDS = frozenset("""name called call im m am llamo nombre heisse appelle nom moi""".split())
_STRONG_WORDS = frozenset("name called llamo nombre heisse appelle nom moi".split())
_CALL_ME = re.compile(r"\b[Cc]all me\s+([A-Z][a-z'-]+)\b")
_IM_FULL_NAME = re.compile(r"\b[Ii](?:'m| am|m)\s+([A-Z][a-z'-]+)\s+([A-Z][a-z'-]+)\b")


def default_region() -> str | None:
    """The region for national phone numbers: ``CIRCLE_REGION`` ("GB"), else the locale's
    (``en_GB.UTF-8`` -> ``GB``), else none (then only a few common regions are tried)."""
    setting = os.environ.get(REGION_SETTING, "").strip().upper()
    if re.fullmatch(r"[A-Z]{2}", setting):
        return setting
    for name in (os.environ.get("LC_ALL"), os.environ.get("LANG"), locale.getlocale()[0]):
        match = re.match(r"[a-z]{2,3}_([A-Z]{2})\b", name or "")
        if match:
            return match.group(1)
    return None


def _valid_in(raw: str, regions: tuple[str, ...], trunk: bool) -> bool:
    """Whether ``raw`` is a personal number in one of ``regions``.

    A number valid in none of them still counts when it starts with a trunk "0" and has a
    possible length for a region (new ranges, and the reserved ranges used in examples).
    """
    possible = False
    for region in regions:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.number_type(number) not in _NOT_PERSONAL
        possible = possible or phonenumbers.is_possible_number(number)
    return trunk and possible


def _international(raw: str) -> bool:
    """A "+" number of a possible length for its country (reserved drama ranges included)."""
    try:
        number = phonenumbers.parse("+" + raw.lstrip("+0") if raw.startswith("00") else raw)
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.is_valid_number(number):
        return phonenumbers.number_type(number) not in _NOT_PERSONAL
    return phonenumbers.is_possible_number(number)


def _phone(parts: list[str], context: bool, region: str | None) -> bool:
    own = (region,) if region else ()
    for match in (m for part in parts for m in _PHONE_CANDIDATE.finditer(part)):
        raw = match.group(0).strip()
        digits = sum(c.isdigit() for c in raw)
        if not 8 <= digits <= 15:
            continue
        if raw.startswith(("+", "00")):
            if _international(raw):
                return True
            continue
        if _THOUSANDS.fullmatch(raw) and not context:
            continue
        trunk = raw.lstrip("(").startswith("0") and digits >= 10
        if trunk or context:
            regions = own + FALLBACK_REGIONS
        elif _NANP.fullmatch(raw):
            regions = own + ("US", "CA")
        else:
            regions = own
        if _valid_in(raw, regions, trunk):
            return True
    return False


def _email(text: str, folded: str, words: set[str]) -> bool:
    if "@" in text and _EMAIL.search(text):
        return True
    if words.isdisjoint(_AT_WORDS):
        return False
    return any(_WRITTEN_EMAIL.search(segment) for segment in _around(folded, _AT_WORD, 60))


def _around(text: str, anchor: re.Pattern[str], reach: int) -> list[str]:
    """The parts of ``text`` within ``reach`` characters of ``anchor``, cut at spaces, merged.

    The slower patterns run only where they could match (near a digit, near "at"), which keeps
    the check well under a millisecond on a long draft.
    """
    spans: list[list[int]] = []
    for match in anchor.finditer(text):
        start, end = max(match.start() - reach, 0), min(match.end() + reach, len(text))
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    parts = []
    for start, end in spans:
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        parts.append(text[start:end])
    return parts


def _cued(cue: frozenset[str] | tuple[str, ...] | None, words: set[str], folded: str) -> bool:
    if cue is None:
        return True
    if isinstance(cue, frozenset):
        return not words.isdisjoint(cue)
    return any(part in folded for part in cue)


def _name(text: str, words: set[str]) -> bool:
    if not words.isdisjoint(_STRONG_WORDS):
        for match in _NAME_STRONG.finditer(text):
            if match.group(1).casefold() not in _NAME_STOP:
                return True
    for match in _CALL_ME.finditer(text):
        if match.group(1).casefold() not in _NAME_STOP:
            return True
    for match in _IM_FULL_NAME.finditer(text):
        first, last = match.group(1), match.group(2)
        pair = (first.casefold(), last.casefold())
        if any(w in _NAME_STOP or w.endswith(("ing", "ed", "ly")) for w in pair):
            continue
        return True
    return False


def oversharing(text: str, region: str | None = None) -> list[str]:
    """What in the draft could identify the writer; an empty list when nothing was found.

    ``region`` is a two-letter code for reading national phone numbers ("GB", "ES"); without it,
    the locale's region is used.
    """
    text = text.translate(_APOSTROPHES)
    folded = fold(text)
    words = set(_WORD.findall(folded))
    found = []
    if _email(text, folded, words):
        found.append("an e-mail address")
        text = _EMAIL.sub(" ", text)
    if not words.isdisjoint(_PLATFORM_WORDS) and (
        _PROFILE_URL.search(text)
        or _PROFILE_HANDLE.search(text)
        or _HANDLE_THEN_PLATFORM.search(text)
    ):
        found.append("a link to a personal profile")
    near_digits = _around(text, _DIGITS, 48)
    if near_digits:
        context = not words.isdisjoint(_PHONE_WORDS)
        if _phone(near_digits, context, region or default_region()):
            found.append("a phone number")
        if national_id(fold(" ".join(near_digits)), words):
            found.append("an ID number")
        patterns = [
            p for p, cue in zip(_ADDRESSES, _ADDRESS_CUES, strict=True) if _cued(cue, words, folded)
        ]
        if any(p.search(part) for part in near_digits for p in patterns):
            found.append("a street address")
    if not words.isdisjoint(_NAME_WORDS) and _name(text, words):
        found.append("your name")
    return found
