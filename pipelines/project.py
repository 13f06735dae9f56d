"""``xlaug run project``: labelled data in another language by annotation projection.

translate-train (default): labelled source -> [translate] -> align -> project
    the source labels onto the translation.  Without --translate-model the
    input must already be parallel (e.g. --input en.conll --target de.txt).
translate-test: unlabelled text -> [translate to a high-resource language]
    -> tag the translation with --tagger-model -> align -> project the tags
    back onto the original text.
"""
from __future__ import annotations

import argparse

from xlaug.pipelines.eval_project import add_aligner_arguments, add_policy_arguments, policy_from_args

HELP = "project token labels (NER spans, POS tags) across languages through word alignment"
DESCRIPTION = __doc__
ACCEPTS_BEAM_ARGS = True
MODES = ("translate-train", "translate-test")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from xlaug.pipelines import common
    common.add_input_arguments(p)
    common.add_output_arguments(p)
    common.add_runner_arguments(p)
    add_stage_arguments(p)


def add_stage_arguments(p: argparse.ArgumentParser) -> None:
    """The projection options alone (also for run chain --step "project ...")."""
    p.add_argument("--mode", choices=MODES, default="translate-train",
                   help="translate-train: project the input's labels onto its translation; "
                        "translate-test: tag the translation and project back onto the input")
    add_aligner_arguments(p, model_flag="--align-model", required=False)
    g = p.add_argument_group("models")
    g.add_argument("--device", default="auto", help="device of the translation and tagger models: auto, cpu, cuda")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads of those models")
    add_policy_arguments(p)
    g = p.add_argument_group("projection")
    g.add_argument("--on-missing", choices=["reject", "drop"], default="reject",
                   help="a span that cannot be projected rejects the record (reason unprojectable_entity, "
                        "overlapping_entities, low_confidence) or is dropped and counted in scores")
    if "--tag-scheme" not in p._option_string_actions:  # common's input options may declare it (bio|any)
        g.add_argument("--tag-scheme", choices=["bio", "pos", "any"], default="bio",
                       help="bio: labels are BIO spans (NER), projected as spans; "
                            "pos/any: per-token tags, projected token by token")
    g.add_argument("--tag-rule", choices=["majority", "first"], default="majority",
                   help="pos: tag of a target word linked to several source words")
    g.add_argument("--fill-tag", default="X", help="pos: tag for target words with no link")
    g.add_argument("--strict-bio", action="store_true",
                   help="reject (invalid_bio) labels with I- not continuing a span instead of reading it as B-")
    g.add_argument("--translate-model", default=None,
                   help="seq2seq model to translate the input first (back-translation stage); "
                        "without it the input must be parallel")
    g.add_argument("--tagger-model", default=None,
                   help="translate-test: token-classification model (hub id or local dir) for the translation")
    g.add_argument("--tagger-batch-size", type=int, default=16)


def _translate_stages(args) -> list:
    from xlaug.pipelines.cli import CliError
    try:
        from xlaug.pipelines import backtranslate
    except ImportError:
        raise CliError("--translate-model needs the back-translation stage (pipelines/backtranslate.py), "
                       "which is not in this build; give a parallel input instead") from None
    # Its options with their defaults, overlaid with ours, its --model = ours.
    bt_parser = argparse.ArgumentParser(add_help=False)
    getattr(backtranslate, "add_model_arguments", backtranslate.add_arguments)(bt_parser)
    ns = argparse.Namespace(**{a.dest: a.default for a in bt_parser._actions if a.dest != "help"})
    for k, v in vars(args).items():
        if v is not None or not hasattr(ns, k):  # an unset option of ours keeps its default there
            setattr(ns, k, v)
    ns.model = args.translate_model
    return list(backtranslate.build_stages(ns))


def build_stages(args) -> list:
    """[translate?] -> [annotate (translate-test)] -> align -> project: stages
    (xlaug.transforms.stage.Step)."""
    from xlaug.pipelines.cli import CliError
    from xlaug.pipelines.align_args import aligner_kwargs_from_args
    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.annotate import AnnotateStep
    from xlaug.transforms.project import ProjectStep

    policy = policy_from_args(args)
    stages = _translate_stages(args) if args.translate_model else []
    if args.mode == "translate-test":
        if not args.tagger_model:
            raise CliError("--mode translate-test needs --tagger-model (the tagger for the translation)")
        from xlaug.transforms.models import require_model
        require_model(args.tagger_model, "--tagger-model")
        stages.append(AnnotateStep(args.tagger_model, side="tgt", batch_size=args.tagger_batch_size,
                                   device=args.device, threads=args.threads))
    if not args.align_model:
        raise CliError("run project needs --align-model (a multilingual encoder: hub id or local folder)")
    from xlaug.transforms.models import require_model
    require_model(args.align_model, "--align-model")
    # MT output arrives untokenised: split punctuation off before aligning.
    stages.append(AlignStep(args.align_model, tokenize="words", **aligner_kwargs_from_args(args)))
    stages.append(ProjectStep(policy, from_side="src" if args.mode == "translate-train" else "tgt",
                              tag_scheme="bio" if args.tag_scheme == "bio" else "pos",
                              tag_rule=args.tag_rule, fill_tag=args.fill_tag, strict_bio=args.strict_bio))
    return stages


def main(args) -> int:
    from xlaug.pipelines.cli import CliError
    from xlaug.pipelines.common import run_pipeline
    if args.gap < 0:
        raise CliError("--gap must be >= 0")
    if args.translate_model and getattr(args, "target", None):
        raise CliError("--translate-model translates the input, --target gives its translation: use one")
    if args.mode == "translate-train" and args.tagger_model:
        raise CliError("--tagger-model is only used with --mode translate-test")
    stages = build_stages(args)
    return 0 if run_pipeline(args, stages, command="project")["identity_ok"] else 1
