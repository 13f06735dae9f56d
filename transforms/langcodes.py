"""Language codes: map what users and model cards write (``deu``, ``ger``,
``deu_Latn``, ``__de__``, ``pt-BR``) to the 2-letter ISO 639-1 codes that
langid.py uses.  Only languages langid knows are listed; anything else comes
back unchanged so the caller can decide what an unknown code means.
"""
from __future__ import annotations

import functools

# The languages of langid.py's built-in model (checked against langid 1.1.6).
LANGID_LANGUAGES = frozenset(
    "af am an ar as az be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr ga gl "
    "gu he hi hr ht hu hy id is it ja jv ka kk km kn ko ku ky la lb lo lt lv mg mk ml mn mr "
    "ms mt nb ne nl nn no oc or pa pl ps pt qu ro ru rw se si sk sl sq sr sv sw ta te th tl "
    "tr ug uk ur vi vo wa xh zh zu".split())

# ISO 639-3 (and 639-2/B, and the macro-language members NLLB uses) -> 639-1,
# for the 97 languages of langid.py's built-in model.
_THREE_TO_TWO = {
    "afr": "af", "amh": "am", "arg": "an", "ara": "ar", "arb": "ar", "asm": "as",
    "aze": "az", "azj": "az", "bel": "be", "bul": "bg", "ben": "bn", "bre": "br",
    "bos": "bs", "cat": "ca", "ces": "cs", "cze": "cs", "cym": "cy", "wel": "cy",
    "dan": "da", "deu": "de", "ger": "de", "dzo": "dz", "ell": "el", "gre": "el",
    "eng": "en", "epo": "eo", "spa": "es", "est": "et", "ekk": "et", "eus": "eu",
    "baq": "eu", "fas": "fa", "per": "fa", "pes": "fa", "fin": "fi", "fao": "fo",
    "fra": "fr", "fre": "fr", "gle": "ga", "glg": "gl", "guj": "gu", "heb": "he",
    "hin": "hi", "hrv": "hr", "hat": "ht", "hun": "hu", "hye": "hy", "arm": "hy",
    "ind": "id", "isl": "is", "ice": "is", "ita": "it", "jpn": "ja", "jav": "jv",
    "kat": "ka", "geo": "ka", "kaz": "kk", "khm": "km", "kan": "kn", "kor": "ko",
    "kur": "ku", "kmr": "ku", "kir": "ky", "lat": "la", "ltz": "lb", "lao": "lo",
    "lit": "lt", "lav": "lv", "lvs": "lv", "mlg": "mg", "plt": "mg", "mkd": "mk",
    "mac": "mk", "mal": "ml", "mon": "mn", "khk": "mn", "mar": "mr", "msa": "ms",
    "may": "ms", "zsm": "ms", "mlt": "mt", "nob": "nb", "nep": "ne", "npi": "ne",
    "nld": "nl", "dut": "nl", "nno": "nn", "nor": "no", "oci": "oc", "ori": "or",
    "ory": "or", "pan": "pa", "pol": "pl", "pus": "ps", "pbt": "ps", "por": "pt",
    "que": "qu", "quy": "qu", "ron": "ro", "rum": "ro", "rus": "ru", "kin": "rw",
    "sme": "se", "sin": "si", "slk": "sk", "slo": "sk", "slv": "sl", "sqi": "sq",
    "alb": "sq", "als": "sq", "srp": "sr", "swe": "sv", "swa": "sw", "swh": "sw",
    "tam": "ta", "tel": "te", "tha": "th", "tgl": "tl", "fil": "tl", "tur": "tr",
    "uig": "ug", "ukr": "uk", "urd": "ur", "vie": "vi", "vol": "vo", "wln": "wa",
    "xho": "xh", "zho": "zh", "chi": "zh", "cmn": "zh", "yue": "zh", "zul": "zu",
}


@functools.lru_cache(maxsize=1024)
def to_iso1(code: str | None) -> str | None:
    """``deu_Latn`` / ``deu`` / ``__de__`` / ``de-AT`` -> ``de``; None stays None.

    Unknown codes are returned lower-cased and stripped of script/region, so
    ``xx_Latn`` -> ``xx``; callers check membership themselves.
    """
    if code is None:
        return None
    c = code.strip().strip("_").lower()
    if not c:
        return None
    base = c.replace("-", "_").split("_")[0]
    if len(base) == 3:
        return _THREE_TO_TWO.get(base, base)
    return base
