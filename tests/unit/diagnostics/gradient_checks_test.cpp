// Unit tests of the gradient checks (owned by diag-engine-B; placeholder so the target builds).
