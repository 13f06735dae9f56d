"""The run report (report.json + histogram pictures) and the dataset card,
built in the driver after the run from the small stats file the pipeline
wrote.  Nothing here touches the corpus itself."""
from __future__ import annotations

import json
import uuid


def _read(path: str) -> str:
    """A small file of the run, local or remote; FileNotFoundError when absent
    (gs:// clients raise their own NotFound otherwise)."""
    from xlaug.transforms import storage
    if not storage.exists(path):
        raise FileNotFoundError(path)
    return storage.read_text(path)


def stage_table(counts: list, ledger: dict, stage_names: list[str]) -> tuple[list[dict], dict, dict]:
    """Per stage: records in, out (kept), rejected (by reason), created, and
    whether its ids add up (``ids_ok``; if not, the ids that differ)."""
    rej: dict = {s: {} for s in stage_names}
    for stage, _outcome, reason, n in counts:
        rej.setdefault(stage, {})
        rej[stage][reason] = rej[stage].get(reason, 0) + n
    rows, by_reason, by_stage = [], {}, {}
    for s in stage_names:
        book = ledger.get(s, {})
        row = {"name": s, "in": book.get("in"), "out": book.get("out", 0),
               "rejected": book.get("rejected", 0),
               "rejected_by_reason": dict(sorted(rej.get(s, {}).items())),
               "created": book.get("created", 0), "ids_ok": bool(book.get("ok"))}
        for key in ("differ", "problems", "note", "unkeyed_rejections"):
            if key in book:
                row[key] = book[key]
        rows.append(row)
        by_stage[s] = row["rejected_by_reason"]
        for reason, n in rej.get(s, {}).items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    return rows, by_reason, by_stage


def identity_errors(rows: list[dict], kept: int) -> list[str]:
    """One line per failed check: a stage whose ids do not add up (naming a
    few), or a write that did not write the last stage's records."""
    errors = []
    for r in rows:
        if r["ids_ok"]:
            continue
        named = ", ".join(f"{p['id']} ({p['problem']})" for p in r.get("problems", [])[:5])
        more = r.get("differ", 0) - min(5, len(r.get("problems", [])))
        errors.append(f"stage {r['name']}: {r.get('differ', '?')} id(s) do not add up"
                      + (f": {named}" if named else "") + (f" and {more} more" if more > 0 else "")
                      + (f" ({r['unkeyed_rejections']} rejection(s) without their record)"
                         if r.get("unkeyed_rejections") else ""))
    if rows and kept != rows[-1]["out"]:
        errors.append(f"write: {kept} records written to the splits, but the last stage "
                      f"({rows[-1]['name']}) kept {rows[-1]['out']}")
    return errors


def build_report(out_dir: str, *, command: str, argv: list, spec, stage_names: list[str],
                 thresholds: dict, splits: list[str], seconds: float, output_format: str,
                 runner: str, extra: dict | None = None) -> dict:
    stats = json.loads(_read(f"{out_dir}/_stats/stats.json"))
    rows, by_reason, by_stage = stage_table(stats["counts"], stats.get("ledger", {}), stage_names)
    read = rows[0]["out"] + rows[0]["rejected"]
    created = sum(r["created"] for r in rows[1:])
    created = int(created) if float(created).is_integer() else created
    rejected = sum(r["rejected"] for r in rows)
    split_counts = {s: stats["splits"].get(s, 0) for s in splits}
    kept = sum(split_counts.values())
    errors = identity_errors(rows, kept)
    if kept + rejected != read + created and not errors:
        errors.append("counts: kept + rejected != read + created")
    report = {
        "command": command,
        "argv": list(argv),
        "input": _input_summary(spec),
        "read": read,
        "kept": kept,
        "rejected": rejected,
        "created": created,
        # Checked by ids, per stage (transforms/ledger.py): each stage's kept
        # and rejected records are its inputs, or records made from one of
        # them that name it as parent; 'created' counts those extra records.
        "identity": f"kept + rejected == read + created: {kept} + {rejected} == {read} + {created}",
        "identity_ok": not errors,
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "rejected_by_stage": by_stage,
        "stages": rows,
        "splits": split_counts,
        "scores": stats["scores"],
        "thresholds": {k: list(v) for k, v in thresholds.items()},
        "output_format": output_format,
        "runner": runner,
        "seconds": round(seconds, 3),
        # Names the card's config: datasets caches a local folder under a key
        # of its base name and config only, so a re-run into the same folder
        # (or another folder of that name) would otherwise load old rows.
        "run_id": uuid.uuid4().hex[:12],
    }
    if errors:
        report["error"] = "; ".join(errors)
    from xlaug.transforms import storage
    try:
        report["sampling"] = json.loads(_read(f"{out_dir}/_stats/sampling.json"))
    except (OSError, ValueError):
        pass  # no sampling stage in this run
    if extra:
        report.update(extra)
    # local or gs://, s3://, ... alike
    report["pictures"] = write_histograms(stats["scores"], thresholds, storage.join(out_dir, "report"))
    storage.write_text(storage.join(out_dir, "README.md"), dataset_card(report, data_files(out_dir)))
    storage.write_text(storage.join(out_dir, "report.json"), json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _input_summary(spec) -> dict:
    """The input part of the report: one file, or several (globs, repeated --input)."""
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    first = specs[0]
    paths = [s.path for s in specs]
    return {"path": paths[0] if len(paths) == 1 else paths, "target": first.target, "format": first.format,
            "src_lang": first.src_lang, "tgt_lang": first.tgt_lang}


def write_histograms(scores: dict, thresholds: dict, folder: str) -> list[str]:
    """One SVG per score with a histogram, the threshold drawn as a line.
    Plain SVG text, drawn here: a plotting library costs seconds to import
    and draw at the end of every run, when no worker is busy."""
    from xlaug.transforms import storage
    paths = []
    for name, s in sorted(scores.items()):
        if not s.get("histogram"):
            continue
        svg = histogram_svg(name, s, thresholds.get(name))
        storage.write_text(storage.join(folder, f"{name}.svg"), svg)
        paths.append(f"{storage.basename(folder)}/{name}.svg")
    return paths


def _num(v: float) -> str:
    return f"{v:.4g}"


def histogram_svg(name: str, s: dict, threshold: tuple | None = None) -> str:
    """A bar chart of one score's histogram (``s`` as in report.json's
    scores: count, mean, histogram range/counts/under/over) as SVG text;
    ``threshold`` (op, value) is drawn as a dashed line."""
    from xml.sax.saxutils import escape
    h = s["histogram"]
    lo, hi = (float(v) for v in h["range"])
    counts = h["counts"]
    width, height, left, right, top, bottom = 600, 320, 60, 20, 36, 44
    pw, ph = width - left - right, height - top - bottom
    peak = max(max(counts), 1)
    span = (hi - lo) or 1.0

    def x(v):
        return left + (v - lo) / span * pw

    def y(c):
        return top + ph - c / peak * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    outside = f"  (outside range: {h['under']} below, {h['over']} above)" if h["under"] or h["over"] else ""
    title = f"{name}: n={s['count']}, mean={s['mean']:.3g}{outside}"
    out.append(f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="12">{escape(title)}</text>')
    bar = pw / len(counts)
    for i, c in enumerate(counts):
        if c:
            out.append(f'<rect x="{left + i * bar:.2f}" y="{y(c):.2f}" width="{max(bar - 0.5, 0.5):.2f}" '
                       f'height="{top + ph - y(c):.2f}" fill="#4c78a8"><title>[{_num(lo + i * span / len(counts))}, '
                       f'{_num(lo + (i + 1) * span / len(counts))}): {c}</title></rect>')
    out.append(f'<path d="M{left},{top} V{top + ph} H{left + pw}" stroke="#333" fill="none"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1):  # x ticks
        v = lo + frac * span
        out.append(f'<text x="{x(v):.1f}" y="{top + ph + 15}" text-anchor="middle">{_num(v)}</text>')
    for c in (0, peak // 2, peak) if peak > 1 else (0, peak):  # y ticks
        out.append(f'<text x="{left - 6}" y="{y(c) + 4:.1f}" text-anchor="end">{c}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(name)}</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + ph / 2})">records</text>')
    if threshold is not None:
        op, value = threshold
        tx = min(max(x(float(value)), left), left + pw)
        out.append(f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{top + ph}" stroke="#e45756" '
                   f'stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{left + 8}" y="{top + 12}" fill="#e45756">'
                   f'{escape(f"keep if {op} {float(value):g}")}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


FIELD_DOCS = [
    ("id", "stable id: input file name and line (suffixes -btN, -csN, -lxN for generated variants)"),
    ("src_lang / tgt_lang", "language codes; src is the side the data came from"),
    ("src_text / tgt_text", "text of each side (null when the input was tokenized)"),
    ("src_tokens / tgt_tokens", "tokens (null when the input was plain text)"),
    ("src_labels / tgt_labels", "token labels (BIO NER or POS), parallel to the tokens"),
    ("token_langs", "language of each target token (code-switched output)"),
    ("alignment / link_scores", "0-based (src, tgt) word links and a similarity per link"),
    ("scores", "score name -> value for every filter and stage that ran"),
    ("scores_extra", "JSON of any other score the records carried"),
    ("origin", "stages that made the record: stage, model, parameters (JSON; a generated variant's "
               "step has parent, siblings and child)"),
    ("loc", "input file and line the record came from"),
]


def config_name(report: dict) -> str:
    """The card's one config: load_dataset(OUT) picks it without being named."""
    return f"run-{report['run_id']}" if report.get("run_id") else "default"


def data_files(out_dir: str) -> list[str]:
    """The data files a run wrote, relative to its output folder (data/...)."""
    from xlaug.transforms import storage
    folder = storage.join(out_dir, "data")
    if not storage.is_remote(folder):
        import os
        return sorted(f"data/{n}" for n in os.listdir(folder)) if os.path.isdir(folder) else []
    prefix = out_dir.rstrip("/") + "/"
    return sorted(p[len(prefix):] for p in storage.listing(folder))


def dataset_card(report: dict, files: list[str] | None = None) -> str:
    """The card; with ``files`` (data/...), each split names its files one
    by one: a card published before all its data (a copy to gs:// cut
    short) then fails to load instead of loading part of the data."""
    # An empty split has only empty shards, which datasets' JSON loader
    # cannot read: the card names the splits that hold records.
    splits = [s for s, n in report["splits"].items() if n] or list(report["splits"])[:1]
    ext = "parquet" if report["output_format"] == "parquet" else "jsonl"
    lines = ["---", "configs:", f"- config_name: {config_name(report)}", "  data_files:"]
    for s in splits:
        mine = [f for f in files or () if f.startswith(f"data/{s}-") and f.endswith(f".{ext}")]
        lines += [f"  - split: {s}", "    path:"]
        lines += [f"    - {f}" for f in mine] if mine else [f"    - data/{s}-*.{ext}"]
    if report.get("features"):  # trainer-ready export: typed columns, label names fixed here
        import yaml
        # dataset_info is matched to its config by name.
        info = yaml.safe_dump({"dataset_info": {"config_name": config_name(report),
                                                "features": report["features"]}}, sort_keys=False,
                              allow_unicode=True)
        lines += info.rstrip("\n").splitlines()
    langs = sorted({l for l in (report["input"]["src_lang"], report["input"]["tgt_lang"]) if l})
    if langs:
        lines.append("language:")
        lines += [f"- {l}" for l in langs]
    lines += ["---", "", f"# xlaug dataset ({report['command']})", ""]
    lines += ["Made by `" + " ".join(["xlaug"] + report["argv"][1:]) + "`.", ""]
    inp = report["input"]
    shown = inp["path"] if isinstance(inp["path"], str) else ", ".join(inp["path"])
    lines += ["## Source", "", f"- input: `{shown}`" + (f" + `{inp['target']}`" if inp["target"] else "")
              + f" ({inp['format']})", f"- languages: {inp['src_lang'] or '?'} -> {inp['tgt_lang'] or '-'}", ""]
    lines += ["## Counts", "", "| split | records |", "| --- | --- |"]
    lines += [f"| {s} | {n} |" for s, n in report["splits"].items()]
    lines += ["", f"Read {report['read']}, kept {report['kept']}, rejected {report['rejected']}"
              + (f", created {report['created']}" if report["created"] else "") + ".", ""]
    lines += ["Every record is accounted for, checked by ids per stage: each stage's kept and "
              "rejected records are its inputs, or new records that name their parent."
              if report["identity_ok"] else
              f"**The identity check by ids failed**: {report.get('error', '')}. "
              "See `stages` in report.json.", ""]
    if report["rejected_by_reason"]:
        lines += ["| rejected because | records |", "| --- | --- |"]
        lines += [f"| {r} | {n} |" for r, n in report["rejected_by_reason"].items()]
        lines += ["", "Rejected records, with stage and reason, are in `rejected/`.", ""]
    lines += ["## Stages", "", "| stage | in | out | rejected | created | ids |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['name']} | {r['in'] if r['in'] is not None else '-'} | {r['out']} | {r['rejected']} "
              f"| {r['created']} | {'ok' if r['ids_ok'] else 'MISMATCH'} |"
              for r in report["stages"]]
    lines += ["", "## Fields", ""] + export_docs(report)
    lines += ["", "## Loading", "", "```python", "import datasets",
              "ds = datasets.load_dataset('path/to/this/folder')", "```", ""]
    return "\n".join(lines)


EXPORT_DOCS = {
    "ner": [("id", "record id"), ("tokens", "words"), ("ner_tags", "BIO labels, ClassLabel (names below)"),
            ("langs", "language of each word")],
    "pos": [("id", "record id"), ("tokens", "words"), ("pos_tags", "tags, ClassLabel (names below)"),
            ("langs", "language of each word")],
    "mt": [("id", "record id"), ("translation", "{language: text} of both sides (src: the human side)"),
           ("scores", "the run's scores, when it made any")],
    "text": [("id", "record id (ID/src, ID/tgt: each side of a pair)"), ("text", "one segment"),
             ("langs", "language of each whitespace word (code-switched text: mixed)")],
}


def export_docs(report: dict) -> list[str]:
    kind = report.get("export", "records")
    if kind == "records":
        return [f"- `{n}`: {d}" for n, d in FIELD_DOCS]
    lines = [f"Export `{kind}` (`--export`):", ""] + [f"- `{n}`: {d}" for n, d in EXPORT_DOCS[kind]]
    if report.get("label_names"):
        lines += ["", "Label names, in id order: " + ", ".join(f"{i} `{n}`" for i, n in
                                                           enumerate(report["label_names"])) + "."]
    return lines
