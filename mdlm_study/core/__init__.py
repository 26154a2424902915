"""The foundations: the paper's reported numbers (each once), special token ids, argument checks, result records with provenance, statistics (one sample per problem, or clustered), pooling over seeds,
the verdict words, accuracy against cost (AUP, Pareto) and notebook parameter declarations."""
