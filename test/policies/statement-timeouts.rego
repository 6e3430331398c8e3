package portcullis

import rego.v1

allow if input.statement.class in {"read", "write"}

# Reads get 300 ms each; writes no time limit.
limits := {"timeout_ms": 300} if input.statement.class == "read"
