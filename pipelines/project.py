"""``xlaug run project``: labelled data in another language by annotation projection.

translate-train (default): labelled source -> [translate] -> align -> project
    the source labels onto the translation.  Without --translate-model the
    input must already be parallel (e.g. --input en.conll --target de.txt).
translate-test: unlabelled text -> [translate to a high-resource language]
    -> tag the translation with --tagger-model -> align -> project the tags
    back onto the original text.
BIO spans or per-token tags: the shared --tag-scheme (bio | any).
"""
from __future__ import annotations

from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.backtranslate import RUNTIME_OPTIONS, translate_options
from xlaug.pipelines.options import Option, choice, integer, number, path, text

HELP = "project token labels (NER spans, POS tags) across languages through word alignment"
DESCRIPTION = __doc__
MODES = ("translate-train", "translate-test")

POLICY_GROUP = "projection policy"
# The projection policy, shared with `eval project`; defaults: docs/projection.md.
POLICY_OPTIONS = (
    Option("gap", integer(min=0), 1, group=POLICY_GROUP,
           help="fill at most this many target words between linked ones; wider holes split the span"),
    Option("no-trim", flag=True, group=POLICY_GROUP, help="keep punctuation at span edges"),
    Option("derived-type", text, "MISC", group=POLICY_GROUP,
           help="type for a capitalised name projected onto lowercase words only "
                "(derived adjective); 'none' keeps the source type"),
    Option("min-confidence", number(min=0.0, max=1.0), 0.0, group=POLICY_GROUP,
           help="spans projected with lower confidence count as missing"),
    Option("edge-trim", choice("outside", "none"), "outside", group=POLICY_GROUP,
           help="outside: trim an edge word of a projected span whose strongest link goes to a "
                "source word outside the span; none: keep it"),
    Option("edge-ratio", number(min=0.0, max=1.0), 0.0, group=POLICY_GROUP,
           help="trim an edge word of a projected span whose link weight is below this share "
                "of the span's heaviest word (0 = off)"),
)

OPTIONS = (
    Option("mode", choice(*MODES), "translate-train", group="projection",
           help="translate-train: project the input's labels onto its translation; "
                "translate-test: tag the translation and project back onto the input"),
    Option("on-missing", choice("reject", "drop"), "reject", group="projection",
           help="a span that cannot be projected rejects the record (reason unprojectable_entity, "
                "overlapping_entities, low_confidence) or is dropped and counted in scores"),
    Option("tag-rule", choice("majority", "first"), "majority", group="projection",
           help="--tag-scheme any: tag of a target word linked to several source words"),
    Option("fill-tag", text, "X", group="projection", help="--tag-scheme any: tag for target words with no link"),
    Option("strict-bio", flag=True, group="projection",
           help="reject (invalid_bio) labels with I- not continuing a span instead of reading it as B-"),
    Option("tagger-model", path, metavar="MODEL", group="projection",
           help="translate-test: token-classification model (hub id or local dir) for the translation"),
    Option("tagger-batch-size", integer(min=1), 16, group="projection"),
) + POLICY_OPTIONS + align_options("project") + translate_options(required=False) + RUNTIME_OPTIONS


def policy(o, on_missing: str = "drop"):
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.project import ProjectionPolicy
    dt = None if str(o.derived_type).lower() == "none" else o.derived_type
    try:
        return ProjectionPolicy(gap=o.gap, trim=not o.no_trim, derived_type=dt, on_missing=on_missing,
                                min_confidence=o.min_confidence, edge_ratio=o.edge_ratio,
                                edge_outside=o.edge_trim == "outside")
    except ValueError as e:
        raise UsageError(f"projection policy: {e}") from None


def check_options(o) -> None:
    from xlaug.transforms.errors import UsageError
    if o.translate_model and o.target:
        raise UsageError("--translate-model translates the input, --target gives its translation: use one")
    if o.mode == "translate-train" and o.tagger_model:
        raise UsageError("--tagger-model is only used with --mode translate-test")
    if o.mode == "translate-test" and not o.tagger_model:
        raise UsageError("--mode translate-test needs --tagger-model (the tagger for the translation)")
    if not o.align_model:
        raise UsageError("run project needs --align-model (a multilingual encoder: hub id or local folder)")


def build_stages(o) -> list:
    """[translate?] -> [annotate (translate-test)] -> align -> project: stages
    (xlaug.transforms.stage.Step)."""
    from xlaug.pipelines.align_args import align_step
    from xlaug.transforms.annotate import AnnotateStep
    from xlaug.transforms.models import check_model
    from xlaug.transforms.project import ProjectStep

    check_options(o)
    rules = policy(o, on_missing=o.on_missing)
    stages = []
    if o.translate_model:
        from xlaug.pipelines import backtranslate
        stages += backtranslate.build_stages(o)
    if o.mode == "translate-test":
        check_model(o.tagger_model, "--tagger-model", kind="tagger")
        stages.append(AnnotateStep(o.tagger_model, side="tgt", batch_size=o.tagger_batch_size,
                                   device=o.device, threads=o.threads))
    from_side = "src" if o.mode == "translate-train" else "tgt"
    extra = {}
    if o.align_layer == "auto" and o.tag_scheme == "bio":
        # Projection chooses the layer whose projection of the sample's own
        # labels survives the round trip (docs/projection.md).
        from xlaug.transforms.project_choice import RoundTripLayer
        extra["choose_layer"] = RoundTripLayer(rules, from_side)
    # MT output arrives untokenised: split punctuation off before aligning.
    stages.append(align_step(o, tokenize="words", **extra))
    stages.append(ProjectStep(rules, from_side=from_side,
                              tag_scheme="bio" if o.tag_scheme == "bio" else "pos",
                              tag_rule=o.tag_rule, fill_tag=o.fill_tag, strict_bio=o.strict_bio,
                              segmenter=o.segmenter))
    return stages
