"""From records to documents: the claims table and its summary, each notebook's conclusion, figures and
their sidecars, the generated docs and the results index."""
