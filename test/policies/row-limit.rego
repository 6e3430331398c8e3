package portcullis

import rego.v1

allow if input.statement.class in {"read", "transaction"}

limits := {"max_rows": 5} if input.statement.class == "read"

allow if input.statement.command in {"CLOSE CURSOR", "CLOSE CURSOR ALL"}
