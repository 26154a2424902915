"""One module per analysis: evaluate (decode a task and grade it), the any-order and parallel-decoding
sweeps, posterior traces, step scoring, faithfulness, the (lambda, gamma) selection protocol and the seed study."""
