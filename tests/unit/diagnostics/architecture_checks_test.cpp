// Unit tests of the architecture checks (owned by diag-engine-B; placeholder so the target builds).
