# Everything is allowed; results that read `big` are limited to 5 rows.
package portcullis

import rego.v1

default allow := true

limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "big"
}
