# Policy for the statement-name tests: everything is allowed; results that read the table
# `big` are limited to 5 rows, others are not limited.
package portcullis

import rego.v1

allow := true

limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "big"
}
