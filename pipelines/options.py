"""Declared options: one ``Option`` per setting, declared once next to the
stage it configures, with its default.  The command line, ``--config`` YAML
files and the Python API (``xlaug.pipelines.api``) all go through the same
conversion and checks (``convert``), so a value means the same and fails with
the same message whichever way it came.

argparse only splits the command line here: every option is added with
``default=SUPPRESS`` and no ``type``, so the namespace it returns holds the
options the user gave, as strings; defaults, YAML values and keywords are
merged and converted by ``resolve``.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from xlaug.transforms.errors import UsageError

OLD = "old:"  # argparse dest prefix of a deprecated spelling


# -- converters: a command-line string or a YAML/Python value -> the value ----------
# Each raises ValueError with a message that does not name the option.

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _show(value) -> str:
    """A value as the user wrote it: 2.5 the same from YAML and the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not _NUMBER.match(value.strip()):
        return repr(value)
    return str(value).strip()


def _scalar(value):
    if isinstance(value, (dict, list, tuple, set)):
        raise ValueError(f"expected a single value, got {type(value).__name__} {_show(value)}")
    return value


def text(value) -> str:
    value = _scalar(value)
    if isinstance(value, bool):
        raise ValueError(f"expected a value, got {_show(value)} (quote it in YAML)")
    return str(value)


def path(value) -> str:
    """A file, folder or model name; ``~`` expanded here, as a shell would on
    the command line, so YAML and Python values mean the same."""
    name = text(value)
    return os.path.expanduser(name) if name.startswith("~") else name


def boolean(value) -> bool:
    """A flag: on the command line its presence; in YAML/Python true or false."""
    if isinstance(value, bool):
        return value
    raise ValueError(f"is a flag: expected true or false, got {_show(value)}")


@dataclass(frozen=True)
class integer:
    min: int | None = None
    max: int | None = None

    def __call__(self, value) -> int:
        value = _scalar(value)
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {_show(value)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            n = value
        else:
            try:
                n = int(str(value).strip())
            except ValueError:
                raise ValueError(f"expected an integer, got {_show(value)}") from None
        _check_range(n, self.min, self.max, False, False)
        return n


@dataclass(frozen=True)
class number:
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # min itself not allowed
    max_open: bool = False

    def __call__(self, value) -> float:
        value = _scalar(value)
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {_show(value)}")
        try:
            x = float(value if isinstance(value, (int, float)) else str(value).strip())
        except ValueError:
            raise ValueError(f"expected a number, got {_show(value)}") from None
        if x != x:
            raise ValueError("expected a number, got nan")
        _check_range(x, self.min, self.max, self.min_open, self.max_open)
        return x


def _check_range(x, lo, hi, lo_open, hi_open) -> None:
    low_bad = lo is not None and (x <= lo if lo_open else x < lo)
    high_bad = hi is not None and (x >= hi if hi_open else x > hi)
    if not (low_bad or high_bad):
        return
    if lo is not None and hi is not None:
        where = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"must be in {where}, got {x}")
    if low_bad:
        raise ValueError(f"must be {'>' if lo_open else '>='} {lo}, got {x}")
    raise ValueError(f"must be {'<' if hi_open else '<='} {hi}, got {x}")


@dataclass(frozen=True)
class choice:
    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def __call__(self, value) -> str:
        value = _scalar(value)
        if isinstance(value, str) and value in self.values:
            return value
        raise ValueError(f"expected one of {', '.join(self.values)}; got {_show(value)}")


# A language code as users and model cards write it: en, deu, deu_Latn, pt-BR, __de__.
_LANG = re.compile(r"^(__)?[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*(__)?$")


def lang_code(value) -> str:
    code = text(value).strip()
    if not _LANG.match(code):
        raise ValueError(f"{code!r} is not a language code (use an ISO 639 code such as en, de, "
                         "eng, or a model's own code such as deu_Latn)")
    return code


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device(value) -> str:
    name = text(value).strip()
    if not _DEVICE.match(name):
        raise ValueError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N or mps)")
    return name


def layer(value):
    """A hidden layer (0 = embeddings) or 'auto'; the model's depth is checked later."""
    if value == "auto":
        return value
    try:
        return integer(min=0)(value)
    except ValueError:
        raise ValueError(f"expected a layer number (>= 0) or 'auto', got {_show(value)}") from None


def mapping(value):
    """A YAML/JSON mapping, given as text, a YAML file name or (YAML, Python) a mapping."""
    if isinstance(value, dict):
        return value
    return text(value)


# -- declarations -------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One setting.  ``name`` is the long flag without dashes (also the YAML
    key); the Python keyword and the namespace attribute are ``dest``."""

    name: str
    convert: Callable[[Any], Any] = text
    default: Any = None
    help: str = ""
    flag: bool = False          # --name alone turns it on (YAML: true/false)
    repeat: bool = False        # may be given several times (YAML: a list)
    required: bool = False
    short: str | None = None    # e.g. "-i"
    metavar: str | None = None
    old: tuple = ()             # deprecated spellings, still read (with a warning)
    group: str | None = None    # help section
    positional: bool = False    # given as a bare word (xlaug models get NAME), not --name

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag_name(self) -> str:
        return "--" + self.name

    def initial(self):
        if self.flag:
            return bool(self.default)
        if self.repeat:
            return list(self.default or [])
        return self.default

    def read(self, value):
        """Convert one value (a command-line string, or a YAML/Python value)."""
        if self.flag:
            return boolean(value)
        if self.repeat:
            values = value if isinstance(value, (list, tuple)) else [value]
            return [self.convert(v) for v in values]
        return self.convert(value)


def by_dest(options: Iterable[Option]) -> dict[str, Option]:
    """Options keyed by dest; a name declared twice is a programming error."""
    out: dict[str, Option] = {}
    names: set[str] = set()
    for o in options:
        for n in (o.name, *o.old):
            if n in names:
                raise ValueError(f"option --{n} declared twice")
            names.add(n)
        out[o.dest] = o
    return out


# -- the command line ----------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem as UsageError (one line, exit 2)
    instead of printing usage and exiting."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # no --max-rat for --max-ratio: Beam options pass through
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


def add_to_parser(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """Declare ``options`` on an argparse parser, as strings with no default."""
    groups: dict[str | None, Any] = {}
    for o in options:
        target = groups.get(o.group)
        if target is None:
            target = groups[o.group] = parser.add_argument_group(o.group) if o.group else parser
        help_text = o.help
        if o.required:
            help_text += " (required)"
        elif not o.flag and o.default not in (None, "", [], ()):
            help_text += f" (default: {o.default})"
        kw: dict[str, Any] = dict(dest=o.dest, default=argparse.SUPPRESS,
                                  help=help_text.replace("%", "%%"))
        if o.flag:
            kw["action"] = "store_true"
        else:
            kw["action"] = "append" if o.repeat else "store"
            kw["metavar"] = o.metavar or _metavar(o)
        if o.positional:
            kw.pop("dest")
            target.add_argument(o.dest, nargs="?", **kw)
            continue
        flags = [o.flag_name] + ([o.short] if o.short else [])
        target.add_argument(*flags, **kw)
        for old in o.old:
            target.add_argument("--" + old, **{**kw, "dest": OLD + old, "help": argparse.SUPPRESS})


def _metavar(o: Option) -> str:
    if isinstance(o.convert, choice):
        return "{" + ",".join(o.convert.values) + "}"
    return o.name.split("-")[-1].upper()


def given_on_command_line(ns: argparse.Namespace, options: Iterable[Option], warn) -> dict:
    """{dest: raw value} of the options present in an argparse namespace, old
    spellings mapped to the new name (with a warning)."""
    values = vars(ns)
    out = {}
    for o in options:
        if o.dest in values:
            out[o.dest] = values[o.dest]
        for old in o.old:
            if OLD + old in values:
                if o.dest in out:
                    raise UsageError(f"--{old} is the old name of --{o.name}: give one of them")
                warn(f"--{old} is deprecated: use --{o.name}")
                out[o.dest] = values[OLD + old]
    return out


def given_in_mapping(data: dict, options: Iterable[Option], where: str, warn, *, keywords=False,
                     errors: list | None = None) -> dict:
    """{dest: raw value} from a YAML mapping (keys with dashes or underscores)
    or Python keywords; unknown keys are an error naming the closest option
    (added to ``errors`` when given, so every problem is reported at once)."""
    own = errors is None
    errors = [] if own else errors
    table = {}
    for o in options:
        table[o.dest] = (o, None)
        for old in o.old:
            table[old.replace("-", "_")] = (o, old)
    out = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in table:
            known = [o.dest if keywords else o.name for o in options]
            errors.append(f"{where}unknown option {str(key)!r}{suggest(str(key), known)}")
            continue
        o, old = table[dest]
        if old is not None:
            warn(f"{where}{old!r} is deprecated: use {o.dest if keywords else o.name!r}")
        if o.dest in out:
            errors.append(f"{where}{o.name!r} given twice")
            continue
        out[o.dest] = value
    if own and errors:
        raise UsageError("\n".join(errors))
    return out


def suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean --max-ratio?)' for a near miss, in the spelling style of ``name``."""
    bare = name.lstrip("-").replace("_", "-")
    close = difflib.get_close_matches(bare, [k.lstrip("-").replace("_", "-") for k in known], n=1, cutoff=0.75)
    if not close:
        return ""
    if name.startswith("--"):
        return f" (did you mean --{close[0]}?)"
    return f" (did you mean {close[0].replace('-', '_') if '_' in name else close[0]}?)"


def resolve(options: Iterable[Option], layers: list[tuple[dict, str]],
            errors: list | None = None) -> argparse.Namespace:
    """Defaults, then each (values, where) layer in order (later wins), every
    value converted by its option; ``where`` prefixes error messages ("" for
    the command line, "FILE: " for YAML).  Checks required options last.
    Every problem is collected: raised together as one UsageError (a line
    each), or, when ``errors`` is given, added to it for the caller to raise."""
    own = errors is None
    errors = [] if own else errors
    options = list(options)
    ns = argparse.Namespace(**{o.dest: o.initial() for o in options})
    table = {o.dest: o for o in options}
    for values, where in layers:
        for dest, raw in values.items():
            o = table[dest]
            if raw is None:
                value = o.initial()  # YAML null / keyword None: the default
            else:
                try:
                    value = o.read(raw)
                except ValueError as e:
                    errors.append(f"{where}{o.flag_name}: {e}")
                    continue
            setattr(ns, dest, value)
    missing = [o.dest.upper() if o.positional else o.flag_name
               for o in options if o.required and getattr(ns, o.dest) in (None, "", [])]
    if missing:
        errors.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    if own and errors:
        raise UsageError("\n".join(errors))
    return ns


# -- YAML ------------------------------------------------------------------------------

def yaml_loader():
    """A safe loader with YAML 1.2 booleans: only true/false are booleans, so
    ``tgt-lang: no`` is Norwegian and ``dedup: off`` a choice, not False."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                 re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return Loader


def load_yaml_text(text: str, where: str):
    import yaml
    try:
        return yaml.load(text, Loader=yaml_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{where}{line}: not valid YAML: {getattr(e, 'problem', None) or e}") from None


def load_config(path: str) -> dict:
    """A ``--config`` file: a mapping of option names to values."""
    try:
        if "://" in path:  # gs://, s3://: through Beam's FileSystems
            from xlaug.transforms import storage
            if not storage.exists(path):
                raise FileNotFoundError(path)
            body = storage.read_text(path)
        else:
            with open(path, encoding="utf-8") as f:
                body = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read config file: {e}") from None
    data = load_yaml_text(body, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of option names to values")
    return data


# Declared once; every command that turns untokenised text into words takes it.
def segmenter_option() -> Option:
    from xlaug.transforms.segment import SEGMENTERS
    return Option("segmenter", choice(*SEGMENTERS), "auto", group="text",
                  help="words of untokenised text: auto (Chinese, Japanese, Thai, Lao, Khmer, Burmese "
                       "segmented by ICU's dictionaries; other text split on spaces and punctuation), "
                       "icu (the same, ICU required up front), whitespace (no segmentation), kiwi (auto, and Korean "
                       "split into morphemes by kiwipiepy), fugashi (auto, Japanese by MeCab/UniDic)")


SEGMENTER = segmenter_option()
