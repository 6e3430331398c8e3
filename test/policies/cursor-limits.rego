# Policy for the cursor-limit tests: everything is allowed; statements that read the view
# `slow` get 300 ms; `blockonly` may be read only inside a transaction block. A FETCH names
# no relation, so it has neither rule of its own.
package portcullis

import rego.v1

default allow := true

limits := {"timeout_ms": 300} if {
	some r in input.statement.relations
	r.name == "slow"
}

allow := false if {
	some r in input.statement.relations
	r.name == "blockonly"
	not input.session.in_transaction
}

# `quick` gets 250 ms; `outbig` 5 rows outside a transaction block (none inside one).
limits := {"timeout_ms": 250} if {
	some r in input.statement.relations
	r.name == "quick"
}

limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "outbig"
	not input.session.in_transaction
}
