"""Log sources, parsing, redaction, template mining, anomaly detection and the scheduled scan."""
