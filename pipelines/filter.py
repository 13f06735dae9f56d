"""TEMP placeholder until the filters branch lands."""
HELP = "filter a corpus"
ACCEPTS_BEAM_ARGS = True
def add_arguments(p):
    from pipelines import common
    common.add_input_arguments(p); common.add_output_arguments(p); common.add_runner_arguments(p)
def main(args):
    from pipelines.common import run_pipeline
    return 0 if run_pipeline(args, [], command="filter")["identity_ok"] else 1
