# Reads are allowed; scratch tables may be made by CREATE TABLE AS, but never from `secrets`.
package portcullis

import rego.v1

default allow := false

allow if input.statement.class in {"read", "transaction"}

allow if input.statement.command == "CREATE TABLE AS"

deny contains "secrets may be read, not copied" if {
	input.statement.class != "read"
	some r in input.statement.relations
	r.name == "secrets"
}
