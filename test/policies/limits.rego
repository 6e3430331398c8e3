package portcullis

import rego.v1

allow if input.statement.class == "read"

limits := {"timeout_ms": 300}
