"""Reports: terminal tables, matplotlib figures, Markdown and HTML pages."""
