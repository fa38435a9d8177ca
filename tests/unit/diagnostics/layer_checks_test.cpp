// Unit tests of the layer checks (owned by diag-engine-B; placeholder so the target builds).
