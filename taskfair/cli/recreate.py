"""Rebuild an exported model from its provenance.json and check it against the folder's weights."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    c = sub.add_parser("recreate", help="rebuild an exported model from its provenance.json and check its hash")
    c.add_argument("record", help="an export folder or its provenance.json")
    c.add_argument("--artifacts", help="artifact root holding the run (default: the one recorded)")
    c.add_argument("--output", help="also write the rebuilt model as an export folder here")
    c.set_defaults(fn=run)


def run(args) -> int:
    from ..publishing.provenance import RECORD_FILE, check_export_files, check_folder_weights, read_record, recreate
    record = read_record(args.record)
    damaged = check_export_files(args.record, record)
    for line in damaged:
        print(f"export file {line}")
    folder = Path(args.record)
    folder = folder if folder.is_dir() else folder.parent if folder.name == RECORD_FILE else None
    if folder is not None and list(folder.glob("*.safetensors")):
        # before rebuilding: the record's own hash can be recomputed by anyone; the weights here must
        # be the weights it says were merged
        mismatch = check_folder_weights(folder, record)
        if mismatch:
            print(f"DIFFERENT: {mismatch}")
            return 1
    model, tok, sha, ok = recreate(record, artifact_root=args.artifacts)
    print(f"recorded merged weights sha256: {record['merged_weights_sha256']}")
    print(f"rebuilt  merged weights sha256: {sha}")
    if args.output:
        from ..publishing.export import export_model
        export_model(model, tok, Path(args.output), record=record)
        print(f"wrote {args.output}")
    if damaged:
        print(f"DIFFERENT: {len(damaged)} file(s) of the export no longer match its record (listed above)")
        return 1
    print("identical: the record reproduces the model" if ok else "DIFFERENT: the rebuilt weights do not match")
    return 0 if ok else 1
