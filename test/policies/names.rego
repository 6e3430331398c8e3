# Policy for the statement-name tests: everything is allowed but the table `forbidden`;
# results that read the table `big` are limited to 5 rows, others are not limited.
package portcullis

import rego.v1

default allow := true

allow := false if {
	some r in input.statement.relations
	r.name == "forbidden"
}

limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "big"
}
