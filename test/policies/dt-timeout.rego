# Everything is allowed; statements on the table dt have 300 ms.
package portcullis

import rego.v1

default allow := true

limits := {"timeout_ms": 300} if {
	some r in input.statement.relations
	r.name == "dt"
}
