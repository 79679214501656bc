"""Turn onnx-tensorrt's ``docs/operators.md`` into the support-matrix data file the conformance check reads.

The matrix is data, not code, so that it can be traced to its source and regenerated when a TensorRT line moves:

    git -C onnx-tensorrt show 96e781103cfc4adf4a6bb557e94bac8e693f6f4c:docs/operators.md > operators.md
    python tools/trt_operators_to_json.py operators.md --line 10.3 --ref 10.1-GA \\
        --commit 96e781103cfc4adf4a6bb557e94bac8e693f6f4c --out grace_edge/engine/tensorrt_support/operators-10.3.json

The output keeps facts only (operator, Y/N, ONNX element types, which inputs must be constant, required values and
allowed attribute values); ``source.text_blob`` is the git blob id of the text read: when that text is the file at
``source.commit`` it equals ``git rev-parse <commit>:docs/operators.md``, so anyone can check it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

# operators.md names -> ONNX TensorProto element type names (what onnx.TensorProto.DataType.Name gives)
TYPE_NAMES = {
    "FP32": "FLOAT", "FP16": "FLOAT16", "BF16": "BFLOAT16", "INT32": "INT32", "INT64": "INT64", "INT8": "INT8",
    "UINT8": "UINT8", "BOOL": "BOOL", "FP8": "FLOAT8E4M3FN", "FP4": "FLOAT4E2M1", "INT4": "INT4", "DOUBLE": "DOUBLE",
}  # fmt: skip
_CONSTANT = r"must be (?:an initializer|a constant tensor|resolvable to a constant|a build-time constant)"
_NAMES = r"((?:`\w+`(?:,? and |, )?)+)(?: input)? "
_HEADER = re.compile(r"TensorRT ([\d.]+) supports operators in the inclusive range of opset (\d+) to opset (\d+)")
# "Supported resize modes: `nearest`, `linear`." -> the ONNX attribute each sentence constrains
_RESIZE_ATTRIBUTES = {
    "Supported resize transformation modes": "coordinate_transformation_mode",
    "Supported resize modes": "mode",
    "Supported nearest modes": "nearest_mode",
    "Supported aspect ratio policy": "keep_aspect_ratio_policy",
}


def git_blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def parse_rows(text: str) -> dict[str, dict]:
    """Operator rows of the support matrix -> {op: facts}."""
    operators: dict[str, dict] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[1] not in ("Y", "N") or not re.fullmatch(r"\w+", cells[0]):
            continue  # header, separator, prose
        types, unknown = parse_types(cells[2] if len(cells) > 2 else "")
        restriction = cells[3] if len(cells) > 3 else ""
        facts = {"supported": cells[1] == "Y", "types": types, **parse_restriction(cells[0], restriction)}
        if unknown:
            facts["unparsed_types"] = unknown  # kept visible: a typo in the source (e.g. INF64) is not a type
        operators[cells[0]] = facts
    return operators


def parse_types(cell: str) -> tuple[list[str], list[str]]:
    tokens = [t.strip() for t in cell.split(",") if t.strip()]
    return [TYPE_NAMES[t] for t in tokens if t in TYPE_NAMES], [t for t in tokens if t not in TYPE_NAMES]


def parse_restriction(op: str, text: str) -> dict:
    """Machine-checkable parts of a Restrictions cell; the rest (prose) is not kept."""
    facts: dict = {}
    constant = [n for m in re.finditer(_NAMES + _CONSTANT, text) for n in re.findall(r"`(\w+)`", m.group(1))]
    if constant:
        facts["constant_inputs"] = constant
    required = {m.group(1): 0 if m.group(2) == "zero" else int(m.group(2))
                for m in re.finditer(r"`(\w+)`(?: input)? must be (\d+|zero)\b", text)}  # fmt: skip
    if required:
        facts["required_values"] = required
    if (bound := re.search(r"`K` input must be less than (\d+)", text)) is not None:
        facts["k_less_than"] = int(bound.group(1))
    if op == "Resize":
        facts["allowed_attributes"] = parse_resize(text)
    return facts


def parse_resize(text: str) -> dict[str, list]:
    allowed: dict[str, list] = {}
    for sentence in re.split(r"<br\s*/?>", text):
        label = sentence.split(":")[0].strip()
        if label in _RESIZE_ATTRIBUTES:
            allowed[_RESIZE_ATTRIBUTES[label]] = re.findall(r"`(\w+)`", sentence)
        elif "Antialiasing is not supported" in sentence:
            allowed["antialias"] = [0]
    return allowed


def convert(text: str, line: str, repo: str, path: str, ref: str, commit: str, note: str) -> dict:
    header = _HEADER.search(text)
    if header is None:
        raise ValueError("no 'TensorRT X supports operators in the inclusive range of opset A to opset B' line")
    operators = parse_rows(text)
    if len(operators) < 100:
        raise ValueError(f"only {len(operators)} operator rows found: not an onnx-tensorrt operators.md")
    return {
        "tensorrt_line": line,
        "source": {"repo": repo, "path": path, "ref": ref, "commit": commit,
                   "text_blob": git_blob_id(text.encode()), "document_says": f"TensorRT {header.group(1)}"},
        "note": note,
        "opset": [int(header.group(2)), int(header.group(3))],
        "operators": dict(sorted(operators.items())),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("markdown", type=Path, help="onnx-tensorrt docs/operators.md (as text)")
    p.add_argument("--line", required=True, help="TensorRT release line this matrix stands for, e.g. 10.3")
    p.add_argument("--repo", default="onnx/onnx-tensorrt")
    p.add_argument("--path", default="docs/operators.md")
    p.add_argument("--ref", required=True, help="branch or tag the text was read at")
    p.add_argument("--commit", required=True, help="40-hex commit the text was read at")
    p.add_argument("--note", default="", help="how this text relates to --line, when it is not that release's own")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        data = convert(args.markdown.read_text(encoding="utf-8"), args.line, args.repo, args.path, args.ref,
                       args.commit, args.note)  # fmt: skip
    except (OSError, ValueError) as e:
        print(f"trt_operators_to_json: {args.markdown}: {e}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['operators'])} operators, opset {data['opset'][0]}-{data['opset'][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
