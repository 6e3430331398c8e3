# Reads and transaction control are allowed; only results of the table big are limited.
package portcullis

import rego.v1

allow if input.statement.class in {"read", "transaction"}

allow if input.statement.command in {"CLOSE CURSOR", "CLOSE CURSOR ALL", "PREPARE", "DEALLOCATE"}

limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "big"
}
