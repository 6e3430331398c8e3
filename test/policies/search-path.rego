# Policy for the search_path tests: everything is allowed (functions of unknown effect too)
# but relations in the schema `secret`; unqualified names are read against the pinned
# search_path (public).
package portcullis

import rego.v1

default allow := true

allow := false if {
	some r in input.statement.relations
	r.schema == "secret"
}
