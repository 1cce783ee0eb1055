"""Log sources, parsing, redaction, template mining, anomaly detection and the scheduled scan."""

from monitoring.native import use_source_where_stale

# Before any compiled module loads: an edited source must never run as its older compiled form.
use_source_where_stale()
