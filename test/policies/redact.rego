# Test policy for the recording's redaction: card numbers never reach the recording.
package portcullis

import rego.v1

default allow := false

allow if input.statement.class in {"read", "write", "transaction", "session"}

deny contains "roles are managed elsewhere" if input.statement.class == "dcl"

deny contains "customers are never deleted" if {
	input.statement.command == "DELETE"
	some r in input.statement.relations
	r.name == "customers"
}

# Parameters of anything that touches customers are left out of the recording...
redact contains "params" if {
	some r in input.statement.relations
	r.name == "customers"
}

# ...and so are its literals, the literals of role statements and of custom settings.
redact contains "literals" if {
	some r in input.statement.relations
	r.name == "customers"
}

redact contains "literals" if input.statement.class == "dcl"

redact contains "literals" if startswith(input.statement.set.name, "app.")
