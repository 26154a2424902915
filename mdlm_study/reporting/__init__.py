"""From records to documents: the notebooks' records (study), the claims registry (claims), the claims table
and its summary, each notebook's conclusion, figures and their sidecars, the generated docs and the results
index."""
