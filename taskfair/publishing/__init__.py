"""Publishing what a run found: a merged configuration exported as a standard Hugging Face
folder with its provenance (rebuildable to the byte), and a one-file HTML report.

- :mod:`.export`     — :func:`export_configuration` (the one export path), :func:`export_model`
- :mod:`.card`       — the export's model card (metrics, counterfactual identity test, provenance)
- :mod:`.provenance` — :func:`build_record`, :func:`recreate`
- :mod:`.htmlreport` — :func:`html_report`
"""
from .export import (Exported, ExportError, auto_model_class, default_export_name, export_configuration,
                     export_model, safe_export_dir, zip_export)
from .htmlreport import html_report, report_frames
from .provenance import (ProvenanceError, build_record, eval_data_sha256, read_record, record_recipe,
                         record_summary, recreate, write_record)

__all__ = ["ExportError", "Exported", "auto_model_class", "default_export_name", "export_configuration",
           "export_model", "safe_export_dir", "zip_export", "html_report", "report_frames", "ProvenanceError",
           "build_record", "eval_data_sha256", "read_record", "record_recipe", "record_summary", "recreate",
           "write_record"]
