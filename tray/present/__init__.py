"""Results into words: terminal text, JSON, the HTML and text report, status and Prometheus."""
